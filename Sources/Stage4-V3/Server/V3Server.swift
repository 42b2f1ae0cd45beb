import EtcdAPI
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOPosix
import Raft
import SingleNode

/// A client port serving the v3 API over gRPC and the v1 API over HTTP/1, plaintext or TLS.
public final class V3Server: Sendable {
    /// Which gRPC transport serves the port.
    public enum Transport: Sendable, CaseIterable {
        /// This project's own (`Fast/`): gRPC and the v1 API on one port, as etcd serves them,
        /// KV calls answered on the connection's event loop without a task. What the daemon runs.
        case fast
        /// grpc-swift's own HTTP/2 transport, untouched: gRPC only (no v1 API on the port),
        /// plaintext only. The version to read first, and the baseline the fast one is measured
        /// against (Stage 4's README, "Making it fast").
        case plain
    }

    let beginShutdown: @Sendable () -> Void
    let task: Task<Void, any Error>
    /// The port bound.
    public let port: Int

    private init(beginShutdown: @escaping @Sendable () -> Void, task: Task<Void, any Error>, port: Int) {
        self.beginShutdown = beginShutdown
        self.task = task
        self.port = port
    }

    /// The services every transport serves, in front of the call gate.
    static func services(_ backend: V3Backend, kv: KVCalls) -> [any RegistrableRPCService] {
        [KVService(calls: kv), WatchService(backend: backend), LeaseService(backend: backend), ClusterService(backend: backend),
         MaintenanceService(backend: backend), AuthService(backend: backend), LockService(backend: backend), ElectionService(backend: backend)]
    }

    /// Serves on `host:port` (0 picks a port): gRPC for `backend`, HTTP/1 for `v1`; `tls`, if
    /// given, goes in front of both (its ALPN must offer `h2` for gRPC clients).
    public static func start(
        host: String, port: Int, backend: V3Backend, v1: V1HTTPService, tls: ConnectionSetup? = nil, logger: Logger
    ) async throws -> V3Server {
        try await start(host: host, port: port, backend: backend, v1: v1, tls: tls, metrics: nil, logger: logger)
    }

    /// As above; `metrics`, if given, counts calls (grpc_server_*_total) for Prometheus;
    /// `unixSocketPath`, if given, is listened on instead of `host:port`.
    public static func start(
        host: String, port: Int, unixSocketPath: String? = nil, backend: V3Backend, v1: V1HTTPService, tls: ConnectionSetup?,
        metrics: GRPCCallMetrics?, transport kind: Transport = .fast, logger: Logger
    ) async throws -> V3Server {
        let kv = KVCalls(backend: backend)
        let interceptors: [any ServerInterceptor] = (metrics.map { [$0.interceptor] } ?? []) + [CallGate(backend: backend)]
        if kind == .plain {
            guard tls == nil, unixSocketPath == nil else {
                throw V3ServerError(description: "the plain gRPC transport serves plaintext TCP only")
            }
            var config = HTTP2ServerTransport.Posix.Config.defaults
            config.rpc.maxRequestPayloadSize = backend.maxRequestBytes + 512 * 1024
            config.http2.maxConcurrentStreams = backend.maxConcurrentStreams
            let transport = HTTP2ServerTransport.Posix(
                address: host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port), transportSecurity: .plaintext,
                config: config)
            let server = GRPCServer(transport: transport, services: services(backend, kv: kv), interceptors: interceptors)
            let task = Task { try await server.serve() }
            let bound: Int
            do {
                let address = try await transport.listeningAddress
                guard let port = address.ipv4?.port ?? address.ipv6?.port else {
                    throw V3ServerError(description: "the listener did not bind an IP address")
                }
                bound = port
            } catch {
                task.cancel()
                throw ListenError(description: "cannot listen for clients on \(host):\(port): \(error)")
            }
            logger.info("listening for client requests (v3 gRPC only, grpc-swift's plain transport)", metadata: ["address": "\(host):\(bound)"])
            return V3Server(beginShutdown: { server.beginGracefulShutdown() }, task: task, port: bound)
        }
        // The JSON gateway, a gRPC client of the same services, on the port's HTTP/1 side.
        let maxMessage = backend.maxRequestBytes + 512 * 1024
        let gateway = Gateway(services: services(backend, kv: kv), interceptors: interceptors, maxMessageSize: maxMessage)
        var v1 = v1
        // JSON is larger than the message it carries (base64 is 4/3 of the bytes): room for that.
        let access = v1.accessControl
        let earlier = v1.frontHandlers
        v1.frontHandlers = { earlier() + [FrontHandler(GatewayResponder(gateway: gateway, access: access, maxBodySize: 2 * maxMessage))] }
        // KV calls are served by the fast path; the rest by grpc-swift's server.
        let transport = ClientPortTransport(.init(
            host: host, port: port, unixSocketPath: unixSocketPath, tls: tls, v1: v1, group: MultiThreadedEventLoopGroup.singleton,
            fastPath: UnaryRoutes.kv(kv), metrics: metrics?.interceptor,
            maxRequestSize: backend.maxRequestBytes + 512 * 1024, maxConcurrentStreams: backend.maxConcurrentStreams,
            keepalive: backend.keepalive))
        let server = GRPCServer(transport: transport, services: services(backend, kv: kv), interceptors: interceptors)
        let task = Task { try await server.serve() }
        let bound: Int
        do {
            let address = try await transport.listeningAddress
            guard let port = address.port ?? (unixSocketPath != nil ? 0 : nil) else {
                throw V3ServerError(description: "the listener did not bind an IP address")
            }
            bound = port
        } catch {
            task.cancel()
            gateway.stop()
            let place = unixSocketPath.map { "the Unix socket \($0)" } ?? "\(host):\(port)"
            throw ListenError(description: "cannot listen for clients on \(place): \(error) (is another etcd using it? choose another with -c or --listen-client-urls)")
        }
        logger.info(
            "listening for client requests (v3 gRPC and v1 HTTP)",
            metadata: ["address": "\(unixSocketPath.map { "unix://" + $0 } ?? "\(host):\(bound)")", "tls": "\(tls != nil)"])
        return V3Server(beginShutdown: { server.beginGracefulShutdown(); gateway.stop() }, task: task, port: bound)
    }

    /// Stops accepting, lets running calls finish for up to `grace`, then ends the rest (a watch
    /// never finishes by itself), and ends HTTP/1 connections.
    public func stop(grace: Duration = .seconds(2)) async {
        beginShutdown()
        let serving = task
        let deadline = Task {
            try await Task.sleep(for: grace)
            serving.cancel()
        }
        _ = try? await serving.value
        deadline.cancel()
    }
}

public struct V3ServerError: Error, CustomStringConvertible {
    public var description: String
}
