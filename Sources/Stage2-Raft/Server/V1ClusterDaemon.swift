import Logging
import NIOCore
import NIOPosix
import SingleNode

/// Stage 2 as a whole daemon: a Raft member serving the v1 API on its client ports until a
/// signal or its own removal. `etcd-stage2` runs it as it is; `etcd-stage3` passes TLS for the
/// client connections in `clientSetup` (and for peers in `configuration.server.peerSecurity`).
/// The full `etcd` serves v3 beside v1 on the same ports, so it runs the same steps with
/// listeners of its own.
public enum V1ClusterDaemon {
    /// Starts the member and its listeners (the caller has run `DataDirectory.prepare`), serves until told to stop, then stops in order: a
    /// leader hands over first (so the others need not wait an election timeout), the listeners
    /// close, then the Raft loop (every write it acknowledged was synced before the answer).
    public static func run(
        _ configuration: DaemonConfiguration, clientSetup: ConnectionSetup? = nil, stopSignals: StopSignals, logger: Logger
    ) async throws {
        if let path = configuration.clientSocketPaths.first {
            throw ListenError(description: "cannot listen on unix socket \(path): unix:// client URLs are served by the full etcd only")
        }
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await RaftServer.start(configuration.server, logger: logger)
        let backend = ReplicatedBackend(server: server)
        // The live view (`--enable-raft-view`) in front of the v1 API, when on.
        let showsView = configuration.server.raftView != nil
        let front: @Sendable () -> [any ChannelHandler] = {
            showsView ? [RaftViewResponder.handler(server: server, access: nil)] : []
        }
        var listeners: [V1HTTPServer] = []
        do {
            for (host, port) in configuration.clientListeners {
                // http:// in --listen-client-urls stays plaintext beside TLS ones, as in etcd.
                let setup = configuration.plaintextClientAddresses.contains("\(host):\(port)") ? nil : clientSetup
                listeners.append(try await V1HTTPServer.start(host: host, port: port, backend: backend, path: configuration.httpPath, setup: setup, frontHandlers: front, group: group, logger: logger))
            }
        } catch {
            for listener in listeners { try? await listener.close() }
            await server.stop()
            throw error
        }
        logger.info(
            "ready to serve client requests",
            metadata: ["name": "\(configuration.server.member.name)", "client-url": "\(configuration.server.member.clientURL)",
                       "data-dir": "\(configuration.server.dataDirectory)"])
        let why = await stopReason(of: server, signals: stopSignals)
        logger.info("shutting down", metadata: ["reason": "\(why)"])
        await server.transferLeadershipBeforeStopping()
        for listener in listeners { try? await listener.close() }
        await server.stop()
        logger.info("stopped serving client requests")
    }

    /// Waits for the first reason to stop, and says which: one of `signals`, or this member
    /// applying its own removal from the cluster.
    public static func stopReason(of server: RaftServer, signals: StopSignals) async -> String {
        let (reasons, reason) = AsyncStream<String>.makeStream()
        let signalWatch = Task {
            for await signalNumber in signals.stream {
                reason.yield("signal \(signalNumber)")
                return
            }
        }
        let removalWatch = Task {
            for await _ in server.removals {
                reason.yield("removed from the cluster")
                return
            }
        }
        defer {
            signalWatch.cancel()
            removalWatch.cancel()
        }
        for await why in reasons { return why }
        return "unknown"
    }
}
