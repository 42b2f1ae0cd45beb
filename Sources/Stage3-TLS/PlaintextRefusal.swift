import Logging
import NIOCore
import Raft

/// Sits in front of the TLS handler and looks at a connection's first byte. A TLS handshake
/// starts with a handshake record (0x16) and passes through untouched; anything else is
/// plaintext sent to a TLS port, which gets an answer in its own protocol, a log line naming
/// the remote and the fix, and a closed connection, rather than a handshake that never ends.
final class PlaintextRefusal: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Port {
        /// The client port: answer as modern Go's HTTPS server does.
        case client
        /// The peer port: answer with a refusal frame that a plaintext peer logs.
        case peer
    }

    private let port: Port
    private let logger: Logger

    init(port: Port, logger: Logger) {
        self.port = port
        self.logger = logger
    }

    static let tlsHandshakeRecord: UInt8 = 0x16

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.readableBytesView.first else { return }
        if first == Self.tlsHandshakeRecord {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        let remote = context.remoteAddress.logText
        let answer: ByteBuffer
        switch port {
        case .client:
            logger.warning("refused plaintext HTTP on the TLS client port: the client must use https://", metadata: ["remote": "\(remote)"])
            answer = ByteBuffer(string: "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
        case .peer:
            let reason = "this member's peer port requires TLS; start every member with the same peer TLS flags (-serverCert/-serverKey/-serverCAFile or --peer-cert-file/--peer-key-file/--peer-trusted-ca-file)"
            logger.error("refused a plaintext peer connection: \(reason)", metadata: ["remote": "\(remote)"])
            answer = ByteBuffer(bytes: PeerFrame.refused(reason).encoded())
        }
        // Written past the TLS handler (this handler sits in front of it), in plaintext.
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(answer)).whenComplete { _ in channel.close(promise: nil) }
    }
}
