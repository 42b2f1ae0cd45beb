import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOSSL
import SwiftASN1
import X509

/// First on each HTTP/2 stream of a client connection: makes `CallIdentity.commonNameHeader`
/// say what the TLS session proved, and nothing a client wrote. Any such header the client sent
/// is deleted; on a connection whose client presented a certificate that TLS verified, its
/// Common Name is added. With `--client-cert-auth` a call without a token runs as that name.
final class VerifiedNameHeader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload

    private let commonName: String?

    init(commonName: String?) { self.commonName = commonName }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .headers(var headers) = unwrapInboundIn(data) else { return context.fireChannelRead(data) }
        headers.headers.remove(name: CallIdentity.commonNameHeader)
        if let commonName { headers.headers.add(name: CallIdentity.commonNameHeader, value: commonName) }
        context.fireChannelRead(wrapInboundOut(.headers(headers)))
        // Only a stream's first HEADERS carries the call's metadata.
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// The Common Name of the client certificate the connection's TLS handshake verified, if
    /// any. Called on the connection's event loop once the handshake is done (streams open after).
    static func commonName(of connection: any Channel) -> String? {
        guard let tls = try? connection.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
              let presented = tls.peerCertificate, let der = try? presented.toDERBytes(),
              let certificate = try? Certificate(derEncoded: der)
        else { return nil }
        return certificate.subject.flatMap { $0 }.first { $0.type == .RDNAttributeType.commonName }.map { "\($0.value)" }
    }
}
