import Logging
import NIOCore
import NIOPosix

/// How a Stage 1 node is set up.
public struct SingleNodeConfiguration: Sendable {
    /// The node's name, its identity under `/_etcd/machines`.
    public var name: String = "default"
    /// Where to listen for clients.
    public var clientHost: String = "127.0.0.1"
    /// The client port; 0 picks a free one.
    public var clientPort: Int = 4001
    /// The peer URL this node advertises (Stage 1 has no peers; it is shown at `/leader`).
    public var peerURL: String = "http://127.0.0.1:7001"
    /// The client URL to advertise; nil derives it from the host and bound port.
    public var advertisedClientURL: String?
    /// How many changes to keep for watches from an index (`-m`); negative means unlimited.
    public var historyCapacity: Int = 1024
    /// How often the node looks for expired keys.
    public var expiryCheckInterval: TimeAmount = .milliseconds(20)
    /// Request size and timeout limits.
    public var limits = HTTPLimits()
    /// How HTTP requests reach the API (`-v1-http`): NIO's pipelining handler, or ours.
    public var httpPath = V1HTTPPath.fast

    /// The defaults: the original's client port 4001 on loopback.
    public init() {}
}

/// A running Stage 1 node: the v1 HTTP API over one in-memory store.
public final class SingleNodeServer: Sendable {
    /// The machine behind the API, for tests that drive it directly.
    public let backend: SingleNodeBackend
    /// The bound client port.
    public let clientPort: Int
    /// The client URL this node advertises.
    public let clientURL: String
    private let http: V1HTTPServer
    private let expiryTask: RepeatedTask
    private let logger: Logger

    private init(
        backend: SingleNodeBackend, http: V1HTTPServer, clientURL: String, expiryTask: RepeatedTask, logger: Logger
    ) {
        self.backend = backend
        self.http = http
        self.clientPort = http.port
        self.clientURL = clientURL
        self.expiryTask = expiryTask
        self.logger = logger
    }

    /// Starts a node. With a `ManualWallClock`, TTLs run out only when the test moves the clock
    /// and calls `backend.expireDueKeys()` (the timer still runs but finds nothing due).
    public static func start(
        _ configuration: SingleNodeConfiguration, clock: any WallClock = SystemWallClock(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger = Logger(label: "etcd")
    ) async throws -> SingleNodeServer {
        let backend = SingleNodeBackend(clock: clock, historyCapacity: configuration.historyCapacity, logger: logger)
        // Register before listening, so no client ever sees the store without this machine.
        // Only a port picked by the system (0, in tests) is unknown until bound, and nobody
        // can reach it before it is reported.
        var clientURL = configuration.advertisedClientURL ?? "http://\(configuration.clientHost):\(configuration.clientPort)"
        if configuration.clientPort != 0 {
            backend.bootstrap(name: configuration.name, peerURL: configuration.peerURL, clientURL: clientURL)
        }
        let http = try await V1HTTPServer.start(
            host: configuration.clientHost, port: configuration.clientPort, backend: backend,
            limits: configuration.limits, path: configuration.httpPath, group: group, logger: logger)
        if configuration.clientPort == 0 {
            clientURL = configuration.advertisedClientURL ?? "http://\(configuration.clientHost):\(http.port)"
            backend.bootstrap(name: configuration.name, peerURL: configuration.peerURL, clientURL: clientURL)
        }
        let expiryTask = group.next().scheduleRepeatedTask(
            initialDelay: configuration.expiryCheckInterval, delay: configuration.expiryCheckInterval
        ) { _ in
            backend.expireDueKeys()
        }
        logger.info(
            "ready to serve client requests",
            metadata: ["name": "\(configuration.name)", "client-url": "\(clientURL)", "stage": "1 (single node, in memory)"])
        return SingleNodeServer(backend: backend, http: http, clientURL: clientURL, expiryTask: expiryTask, logger: logger)
    }

    /// Stops listening and stops expiring keys.
    public func stop() async throws {
        expiryTask.cancel()
        try await http.close()
        logger.info("stopped serving client requests")
    }
}
