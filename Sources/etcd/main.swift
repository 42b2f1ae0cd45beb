// The etcd daemon: flags in, a running server out. Everything it runs lives in the stage modules.
import Logging
import NIOPosix
import Raft
import SingleNode
import TLS
import V3

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let arguments = Array(CommandLine.arguments.dropFirst())
let flagSet = GoFlagSet(DaemonConfiguration.flagSet.flags + TLSFlags.flags)
let values: [String: String]
do {
    values = try flagSet.parse(arguments, environment: Environment.variables())
} catch .helpRequested {
    print(flagSet.usage(program: "etcd"))
    exit(0)
} catch {
    FileHandleOutput.standardError("etcd: \(error)\n\n" + flagSet.usage(program: "etcd"))
    exit(2)
}
if values["version"] == "true" {
    print("etcd \(V1Flags.versionText)")
    exit(0)
}

let level: Logger.Level = values["vv"] == "true" ? .trace : values["v"] == "true" ? .debug : .info
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = level
    return handler
}
let logger = Logger(label: "etcd")

var configuration: DaemonConfiguration
let clientTLS: ConnectionSetup?
let v3Store = V3StateMachine()
do {
    // TLS flags say how to listen, not where: the rest decide ports and defaults alone.
    configuration = try DaemonConfiguration.from(values.filter { !DaemonConfiguration.isTLSFlag($0.key) })
    let tls = try TLSSettings.daemon(values)
    configuration.advertiseTLS(tls)
    // Certificates are read and checked now, so a bad file stops the daemon before it serves.
    // The v3 store is fed by the same log as the v1 store.
    configuration.server.stateMachine = v3Store
    clientTLS = try tls.client.map {
        ClientTLS.setup(try CertificateSource($0, applicationProtocols: ClientTLS.applicationProtocols, logger: logger), logger: logger)
    }
    configuration.server.peerSecurity = try tls.peer.map { PeerTLS.security(try CertificateSource($0, logger: logger), logger: logger) }
} catch {
    FileHandleOutput.standardError("etcd: \(error)\n")
    exit(2)
}
if configuration.forceNewCluster {
    // -f: the original's "force new configuration", data loss by design.
    for entry in ["wal", "snap", "cluster-id"] { ForceRemove.tree(configuration.server.dataDirectory + "/" + entry) }
    logger.warning("-f: discarded the log and snapshots", metadata: ["data-dir": "\(configuration.server.dataDirectory)"])
}

// Stop on SIGINT or SIGTERM: close the listeners, then exit 0.
let stopSignals = StopSignals(SIGINT, SIGTERM)

do {
    let group = MultiThreadedEventLoopGroup.singleton
    let server = try await RaftServer.start(configuration.server, group: group, logger: logger)
    // Each client port serves both APIs: gRPC (v3) and HTTP/1 (v1), told apart per connection.
    var listeners: [V3Server] = []
    let v1 = V1HTTPService(backend: ReplicatedBackend(server: server))
    for (host, port) in configuration.clientListeners {
        listeners.append(try await V3Server.start(
            host: host, port: port, backend: V3Backend(raft: server, machine: v3Store), v1: v1, tls: clientTLS, logger: logger))
    }
    let leaseExpiry = LeaseExpiry.run(backend: V3Backend(raft: server, machine: v3Store), logger: logger)
    logger.info(
        "ready to serve client requests",
        metadata: ["name": "\(configuration.server.member.name)", "client-url": "\(configuration.server.member.clientURL)",
                   "data-dir": "\(configuration.server.dataDirectory)"])
    for await signalNumber in stopSignals.stream {
        logger.info("received signal, shutting down", metadata: ["signal": "\(signalNumber)"])
        break
    }
    leaseExpiry.cancel()
    // Together: each waits up to its grace period for calls such as watches to end.
    await withTaskGroup(of: Void.self) { group in
        for listener in listeners { group.addTask { await listener.stop() } }
    }
    await server.stop()
    logger.info("stopped serving client requests")
} catch {
    logger.critical("cannot serve: \(error)")
    exit(1)
}
