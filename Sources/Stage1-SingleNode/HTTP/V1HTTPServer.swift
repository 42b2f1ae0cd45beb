import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// A listening socket serving the v1 HTTP API with SwiftNIO: one event-loop task per request,
/// never a thread per connection or per watcher.
public final class V1HTTPServer: Sendable {
    /// The port actually bound (useful when asked for port 0).
    public let port: Int
    private let channel: any Channel

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    /// Binds `host:port` and starts serving `backend`.
    public static func start(
        host: String, port: Int, backend: any V1Backend, limits: HTTPLimits = HTTPLimits(),
        group: any EventLoopGroup, logger: Logger
    ) async throws -> V1HTTPServer {
        let api = V1API(backend: backend)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(V1HTTPHandler(api: api, limits: limits))
                }
            }
            .bind(host: host, port: port)
            .get()
        let bound = channel.localAddress?.port ?? port
        logger.info("listening for client requests", metadata: ["address": "\(host):\(bound)"])
        return V1HTTPServer(port: bound, channel: channel)
    }

    /// Stops accepting connections.
    public func close() async throws {
        try await channel.close()
    }
}
