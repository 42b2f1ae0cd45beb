import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import SingleNode

/// One client port for both APIs, as etcd does with cmux: every connection gets the gRPC
/// pipeline, with a sniffer in front that holds back `channelActive` and looks at the first
/// bytes. HTTP/2's connection preface means gRPC: the sniffer lets the connection become active
/// and steps aside. Anything else is an HTTP/1 client of the v1 API: its handlers go in front of
/// the gRPC ones, which never become active and whose writes are dropped.
///
/// (The obvious design, reading first and then choosing a pipeline, cannot work with an async
/// bootstrap: the channel is registered, and can read, only after its initializer returns.)
struct ClientPortListener: HTTP2ServerTransport.ListenerFactory {
    let host: String
    let port: Int
    /// Stage 3's TLS handlers, if the port uses TLS.
    let tls: ConnectionSetup?
    let v1: V1HTTPService
    let eventLoopGroup: any EventLoopGroup

    func makeListeningChannel(
        listenerConfigurator: HTTP2ServerTransport.ListenerConfigurator,
        connectionConfigurator: HTTP2ServerTransport.ConnectionConfigurator
    ) async throws -> NIOAsyncChannel<HTTP2ServerTransport.ConnectionConfigurator.ConnectionChannel, Never> {
        let tls = self.tls, v1 = self.v1
        return try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { listenerConfigurator.configure(channel: $0) }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try tls?(channel)
                    try channel.pipeline.syncOperations.addHandler(ProtocolSniffer(v1: v1))
                }.flatMap {
                    connectionConfigurator.configure(channel: channel, tls: tls == nil ? .none : .configured(requireALPN: false))
                }
            }
    }
}

/// Tells gRPC from HTTP/1 by the first bytes of a connection.
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// What every HTTP/2 client sends first (RFC 9113 §3.4); gRPC speaks nothing else.
    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let v1: V1HTTPService
    private var buffered: ByteBuffer?
    private var isActive = false
    private var deadline: Scheduled<Void>?

    init(v1: V1HTTPService) { self.v1 = v1 }

    func channelActive(context: ChannelHandlerContext) {
        // Held back until the protocol is known. A client that never says anything is closed
        // after the v1 idle timeout, as an idle HTTP/1 connection would be.
        isActive = true
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: v1.idleTimeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffered == nil { buffered = incoming } else { buffered!.writeBuffer(&incoming) }
        let seen = buffered!.readableBytesView
        let compared = min(seen.count, Self.preface.count)
        let looksLikeHTTP2 = seen.prefix(compared).elementsEqual(Self.preface.prefix(compared))
        if looksLikeHTTP2 && seen.count < Self.preface.count { return }  // wait for the rest
        deadline?.cancel()
        let bytes = buffered!
        buffered = nil
        if !looksLikeHTTP2 {
            // v1 over HTTP/1: its handlers go between this sniffer and the gRPC handlers, with a
            // silencer behind them. Inserted back to front, each right after this handler.
            do {
                try context.pipeline.syncOperations.addHandler(GRPCSilencer(), position: .after(self))
                try v1.addHandlers(to: context.pipeline.syncOperations, after: self)
            } catch {
                context.close(promise: nil)
                return
            }
        }
        if isActive { context.fireChannelActive() }
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }
}

/// Behind the v1 handlers on an HTTP/1 connection: the gRPC handlers further back must never
/// see the connection as theirs, nor write to it (a keepalive ping, a GOAWAY) or close it. The
/// connection's end still reaches them, so they finish; a server shutdown closes it.
final class GRPCSilencer: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    func channelActive(context: ChannelHandlerContext) {}
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
    func channelReadComplete(context: ChannelHandlerContext) {}
    func errorCaught(context: ChannelHandlerContext, error: any Error) {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server is shutting down: an HTTP/1 connection simply ends.
        if event is ChannelShouldQuiesceEvent { context.close(promise: nil) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.ioOnClosedChannel)
    }

    func flush(context: ChannelHandlerContext) {}

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        promise?.succeed(())
    }
}
