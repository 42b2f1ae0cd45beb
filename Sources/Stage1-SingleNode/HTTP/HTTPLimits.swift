import NIOCore

/// Limits that keep a misbehaving client from holding the server's memory or connections.
public struct HTTPLimits: Sendable {
    /// The largest request body accepted, in bytes; etcd's own limit is 1.5 MiB.
    public var maxBodyBytes: Int = 1_572_864
    /// How long a client may take to send one whole request once it has started, so a slow
    /// sender cannot hold a connection open forever.
    public var requestTimeout: TimeAmount = .seconds(30)
    /// How long a keep-alive connection may sit between requests. Never applies while a watch
    /// is waiting for its event: long polls have no server-side timeout, as in the original.
    public var idleTimeout: TimeAmount = .minutes(5)

    /// The defaults above.
    public init() {}
}

/// Fired by `RequestStartDetector` whenever request bytes arrive from the socket.
struct RequestBytesArrived: Sendable {}

/// Sits before the HTTP decoder and reports that bytes arrived, so the request timeout can start
/// with a request's first byte rather than when its headers are complete.
final class RequestStartDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(RequestBytesArrived())
        context.fireChannelRead(data)
    }
}
