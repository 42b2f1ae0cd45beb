import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Handlers a later stage puts in front of a connection's pipeline before the protocol's own
/// (Stage 3 puts TLS there). It runs on the connection's event loop; throwing refuses the
/// connection.
public typealias ConnectionSetup = @Sendable (any Channel) throws -> Void

/// A listening socket serving the v1 HTTP API with SwiftNIO: one event-loop task per request,
/// never a thread per connection or per watcher.
public final class V1HTTPServer: Sendable {
    /// The port actually bound (useful when asked for port 0).
    public let port: Int
    private let channel: any Channel
    // Open client connections, so stopping the server also ends them and their watches.
    private let connections: Connections

    final class Connections: Sendable {
        let open = Mutex<[ObjectIdentifier: any Channel]>([:])

        func add(_ channel: any Channel) {
            let key = ObjectIdentifier(channel)
            open.withLock { $0[key] = channel }
            channel.closeFuture.whenComplete { _ in _ = self.open.withLock { $0.removeValue(forKey: key) } }
        }
    }

    private init(port: Int, channel: any Channel, connections: Connections) {
        self.port = port
        self.channel = channel
        self.connections = connections
    }

    /// Binds `host:port` and starts serving `backend`; `setup`, if given, goes in front of HTTP
    /// on every connection, and `frontHandlers` in front of the v1 API (see
    /// `V1HTTPService.frontHandlers`).
    public static func start(
        host: String, port: Int, backend: any V1Backend, limits: HTTPLimits = HTTPLimits(), path: V1HTTPPath = .fast,
        setup: ConnectionSetup? = nil, frontHandlers: @escaping @Sendable () -> [any ChannelHandler] = { [] }, group: any EventLoopGroup,
        logger: Logger
    ) async throws -> V1HTTPServer {
        let api = V1API(backend: backend)
        let connections = Connections()
        let channel: any Channel
        do {
            channel = try await bind(
                host: host, port: port, api: api, limits: limits, path: path, setup: setup, frontHandlers: frontHandlers, connections: connections, group: group)
        } catch {
            throw ListenError(description: "cannot listen for clients on \(host):\(port): \(error) (is another etcd using the port? choose another with -c)")
        }
        let bound = channel.localAddress?.port ?? port
        logger.info("listening for client requests", metadata: ["address": "\(host):\(bound)", "tls": "\(setup != nil)", "http-path": "\(path)"])
        return V1HTTPServer(port: bound, channel: channel, connections: connections)
    }

    private static func bind(
        host: String, port: Int, api: V1API, limits: HTTPLimits, path: V1HTTPPath, setup: ConnectionSetup?,
        frontHandlers: @escaping @Sendable () -> [any ChannelHandler], connections: Connections, group: any EventLoopGroup
    ) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try setup?(channel)
                    var service = V1HTTPService(api: api, limits: limits)
                    service.path = path
                    service.frontHandlers = frontHandlers
                    try service.addHandlers(to: channel.pipeline.syncOperations, after: nil)
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    /// Stops accepting connections, then closes the open ones (pending watches end with them).
    public func close() async throws {
        try await channel.close()
        for connection in connections.open.withLock({ Array($0.values) }) {
            try? await connection.close()
        }
    }
}

/// The v1 API's HTTP/1 handlers, for a connection on a listener another stage owns (Stage 4
/// serves gRPC and v1 on one client port, and hands a connection here once it sees HTTP/1).
public struct V1HTTPService: Sendable {
    let api: V1API
    let limits: HTTPLimits

    /// Serves `backend`, and `extraRoutes` (asked first for every request) if given, under
    /// etcd 3's `access` rules if given.
    public init(
        backend: any V1Backend, limits: HTTPLimits = HTTPLimits(), extraRoutes: ExtraHTTPRoutes? = nil, access: HTTPAccessControl? = nil
    ) {
        self.init(api: V1API(backend: backend, extraRoutes: extraRoutes, access: access), limits: limits)
    }

    init(api: V1API, limits: HTTPLimits) {
        self.api = api
        self.limits = limits
    }

    /// Handlers a later stage puts in front of the v1 API on each connection, right after the
    /// HTTP parser, in order (Stage 4's gRPC gateway takes the `/v3/` paths there). None here.
    /// One that answers a request itself tells the v1 handler with `FrontRequest` events, so
    /// that its timeouts do not close the connection under that answer.
    public var frontHandlers: @Sendable () -> [any ChannelHandler] = { [] }

    /// How requests reach the API: NIO's pipelining handler and a plain handler, or ours.
    public var path = V1HTTPPath.fast

    /// The host and CORS rules this service applies, for a front handler to apply the same.
    public var accessControl: HTTPAccessControl? { api.access }

    /// Adds the handlers right after `handler` (nil: at the end of the pipeline), in order:
    /// request-start detection, HTTP/1 parsing (on the plain path with NIO's pipelining and
    /// error handlers), the front handlers, the v1 API's handler (on the fast path, that one
    /// also keeps pipelined requests in order and answers a malformed one 400).
    public func addHandlers(to pipeline: ChannelPipeline.SynchronousOperations, after handler: (any ChannelHandler)?) throws {
        let api: any ChannelHandler =
            switch path {
            case .plain: PlainV1HTTPHandler(api: self.api, limits: limits)
            case .fast: V1HTTPHandler(api: self.api, limits: limits)
            }
        guard let handler else {
            try pipeline.addHandler(RequestStartDetector())
            try addHTTP(to: pipeline, position: .last)
            for front in frontHandlers() { try pipeline.addHandler(front) }
            try pipeline.addHandler(api)
            return
        }
        // Each insertion goes right after `handler`, so insert back to front.
        try pipeline.addHandler(api, position: .after(handler))
        for front in frontHandlers().reversed() { try pipeline.addHandler(front, position: .after(handler)) }
        try addHTTP(to: pipeline, position: .after(handler))
        try pipeline.addHandler(RequestStartDetector(), position: .after(handler))
    }

    private func addHTTP(to pipeline: ChannelPipeline.SynchronousOperations, position: ChannelPipeline.SynchronousOperations.Position) throws {
        // On the fast path a malformed request's 400 is written by `V1HTTPHandler`, after the
        // answers ahead of it. Response headers are not validated again: this server writes
        // them all itself, from its own values and configured URLs; request text reaches one
        // (a redirect's Location) only as a path the HTTP parser accepted, which holds no line break.
        try pipeline.configureHTTPServerPipeline(
            position: position, withPipeliningAssistance: path == .plain, withServerUpgrade: nil, withErrorHandling: path == .plain,
            withOutboundHeaderValidation: false)
    }

    /// How long a connection may stay silent before its first request.
    public var idleTimeout: TimeAmount { limits.idleTimeout }
}

/// A listener could not be opened; the message names the address and the likely fix.
public struct ListenError: Error, CustomStringConvertible {
    /// What failed and what to do.
    public var description: String

    /// Makes an error with its message.
    public init(description: String) { self.description = description }
}

extension Optional where Wrapped == SocketAddress {
    /// `ip:port` for logs (NIO's own description adds the address family and host name).
    public var logText: String {
        guard let address = self else { return "?" }
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// Sent inbound by a front handler (see `V1HTTPService.frontHandlers`) that takes a request
/// itself: the v1 handler behind it holds its idle and request timeouts from `started` until
/// `ended` (a JSON watch may stream for hours), then waits for the next request as usual.
public enum FrontRequest: Sendable {
    case started
    case ended
}
