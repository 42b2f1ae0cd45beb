// The etcd daemon: flags in, a running server out. Everything it runs lives in the stage modules.
import Logging
import Metrics
import NIOPosix
import Prometheus
import Raft
import RaftDisk
import SingleNode
import TLS
import V3

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "snapshot" { exit(SnapshotCommand.run(Array(arguments.dropFirst()))) }
if arguments.first == "lab" { exit(await LabCommand.run(Array(arguments.dropFirst()))) }
let flagSet = GoFlagSet(
    DaemonConfiguration.flagSet.flags + TLSFlags.flags + OperationsFlags.flags + CompatibilityFlag.all.map(\.flag)
        + [DaemonValues.configFileFlag])
let values: [String: String]
let settingNotes: [String]
do {
    (values, settingNotes) = try DaemonValues.read(arguments, environment: Environment.variables(), flagSet: flagSet)
} catch {
    if error.message.isEmpty {
        print(flagSet.usage(program: "etcd"))
        exit(0)
    }
    FileHandleOutput.standardError("etcd: \(error.message)\n" + (error.showUsage ? "\n" + flagSet.usage(program: "etcd") : ""))
    exit(2)
}
if values["version"] == "true" {
    print(VersionText.text)
    exit(0)
}

let operations: OperationsFlags
let compatibilityWarnings: [String]
do {
    operations = try OperationsFlags(values)
    compatibilityWarnings = try CompatibilityFlag.judge(values).get()
} catch {
    FileHandleOutput.standardError("etcd: \(error)\n")
    exit(2)
}
let logSinks: [FileLogHandler.Sink]
do { logSinks = try operations.logFiles.map { path throws(V1Flags.InvalidValue) in try FileLogHandler.Sink(path: path) } } catch {
    FileHandleOutput.standardError("etcd: \(error)\n")
    exit(2)
}
LoggingSystem.bootstrap { label in
    var handlers: [any LogHandler] = logSinks.map { FileLogHandler(label: label, sink: $0) }
    if operations.toStandardOutput { handlers.append(StreamLogHandler.standardOutput(label: label)) }
    if operations.toStandardError || handlers.isEmpty { handlers.append(StreamLogHandler.standardError(label: label)) }
    var handler = MultiplexLogHandler(handlers)
    handler.logLevel = operations.logLevel
    return handler
}
let logger = Logger(label: "etcd")
for note in settingNotes + compatibilityWarnings + operations.notes { logger.warning("\(note)") }
// Every stage records through swift-metrics; Prometheus' registry collects it for /metrics.
let registry = PrometheusCollectorRegistry()
MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

var configuration: DaemonConfiguration
let clientTLS: ConnectionSetup?
var clientCertAuth = false
let v3Store = V3StateMachine(quotaBytes: operations.quotaBytes)
v3Store.setTokenTTL(operations.tokenTTL)
if let options = operations.jwt {
    do { v3Store.useJWT(try await JWTTokens.load(options)) } catch {
        FileHandleOutput.standardError("etcd: \(error)\n")
        exit(2)
    }
}
do {
    // TLS and operational flags say how to run, not who: the rest decide ports and defaults.
    configuration = try DaemonConfiguration.from(values.filter {
        !DaemonConfiguration.isTLSFlag($0.key) && !OperationsFlags.owns($0.key) && !CompatibilityFlag.owns($0.key) && $0.key != "config-file"
    })
    configuration.server.walDirectory = operations.walDirectory
    configuration.server.preVote = operations.preVote
    configuration.server.strictReconfigCheck = operations.strictReconfigCheck
    let (tls, tlsNotes) = try TLSSettings.daemon(
        values, dataDirectory: configuration.server.dataDirectory, clientHosts: configuration.clientListeners.map(\.host),
        peerHosts: configuration.server.peerListeners.map(\.host))
    for note in tlsNotes { logger.notice("\(note)") }
    configuration.advertiseTLS(tls)
    // etcd's words for a peer URL served without TLS beside client-certificate auth.
    if tls.peer?.requireClientCertificate == true {
        for listener in configuration.server.peerListeners where listener.plaintext {
            logger.warning("scheme is HTTP while --peer-client-cert-auth is enabled; ignoring client cert auth for this URL",
                           metadata: ["peer-url": "http://\(listener.host):\(listener.port)"])
        }
    }
    // Only the flag itself, as etcd: a trusted CA alone also makes TLS ask for certificates,
    // but must not make their names users.
    clientCertAuth = tls.client != nil && values["client-cert-auth"] == "true"
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
if operations.grpcTransport == .plain && (clientTLS != nil || !configuration.clientSocketPaths.isEmpty) {
    FileHandleOutput.standardError("etcd: --grpc-transport plain serves plaintext TCP only: drop it, or the client TLS flags and unix:// client URLs\n")
    exit(2)
}
do { try DataDirectory.prepare(configuration, logger: logger) } catch {
    FileHandleOutput.standardError("etcd: \(error)\n")
    exit(2)
}
// The v3 store's file, beside the snapshots as etcd keeps it (member/snap/db there): whatever
// discards the snapshots discards it too, so it never outlives the log it was applied from.
do {
    let snapDirectory = configuration.server.dataDirectory + "/snap"
    try PosixFileSystem().createDirectory(snapDirectory)
    try v3Store.openBackend(at: snapDirectory + "/db", batch: operations.backendBatch)
} catch {
    logger.critical("cannot open the v3 backend: \(error)")
    exit(1)
}

if operations.forceNewCluster {
    do {
        if let outcome = try ForceNewCluster.rewrite(configuration.server) {
            logger.notice(
                "forcing restart of member \(ClusterIdentity.hex(outcome.memberID)) in cluster \(ClusterIdentity.hex(outcome.clusterID)) at commit index \(outcome.commitIndex)",
                metadata: ["removed": "\(outcome.removed.map(ClusterIdentity.hex))"])
        }
    } catch {
        logger.critical("--force-new-cluster: cannot rewrite the log: \(error)")
        exit(1)
    }
}

// Stop on SIGINT or SIGTERM: hand over leadership, close the listeners, then exit 0.
let stopSignals = StopSignals(SIGINT, SIGTERM)

do {
    let server = try await RaftServer.start(configuration.server, logger: logger)
    var backend = V3Backend(raft: server, machine: v3Store)
    backend.progressNotifyInterval = operations.progressNotifyInterval
    backend.maxRequestBytes = operations.maxRequestBytes
    backend.maxTxnOps = operations.maxTxnOps
    backend.bcryptCost = operations.bcryptCost
    // With --client-cert-auth, a call without a token is its certificate's Common Name.
    backend.clientCertAuth = clientCertAuth
    backend.maxConcurrentStreams = operations.maxConcurrentStreams
    (backend.keepaliveMinTime, backend.keepaliveInterval, backend.keepaliveTimeout) = operations.keepalive
    // Before serving: a member whose history differs from its peers' must not answer reads.
    if operations.initialCorruptCheck {
        try await CorruptionCheck.initial(backend: backend, logger: logger)
    }
    let endpoints = OperationsEndpoints(backend: backend, registry: registry, logger: logger)
    // Each client port serves both APIs: gRPC (v3) and HTTP/1 (v1, with /version, /health and
    // /metrics), told apart per connection.
    var listeners: [V3Server] = []
    let access = HTTPAccessControl(allowedHosts: operations.allowedHosts, corsOrigins: operations.corsOrigins, checksHosts: clientTLS == nil)
    var v1 = V1HTTPService(backend: ReplicatedBackend(server: server), extraRoutes: endpoints.routes, access: access)
    v1.path = configuration.httpPath
    // The live view of the cluster at /debug/raft (`--enable-raft-view`, or `etcd lab`).
    if configuration.server.raftView != nil { v1.frontHandlers = { [RaftViewResponder.handler(server: server, access: access)] } }
    let callMetrics = GRPCCallMetrics(extensive: operations.extensiveMetrics)
    // Each URL by its own scheme, as etcd: http:// and unix:// stay plaintext beside TLS ones.
    func tls(for address: String) -> ConnectionSetup? {
        guard configuration.plaintextClientAddresses.contains(address) else { return clientTLS }
        if clientTLS != nil {
            logger.warning("scheme is HTTP while key and cert files are present; ignoring key and cert files", metadata: ["client-url": "\(address)"])
        }
        return nil
    }
    for (host, port) in configuration.clientListeners {
        listeners.append(try await V3Server.start(
            host: host, port: port, backend: backend, v1: v1, tls: tls(for: "\(host):\(port)"), metrics: callMetrics,
            transport: operations.grpcTransport, logger: logger))
    }
    for path in configuration.clientSocketPaths {
        listeners.append(try await V3Server.start(
            host: "", port: 0, unixSocketPath: path, backend: backend, v1: v1, tls: tls(for: path), metrics: callMetrics,
            transport: operations.grpcTransport, logger: logger))
    }
    var metricsListeners: [MetricsListener] = []
    for (host, port) in operations.metricsListeners {
        metricsListeners.append(try await MetricsListener.start(host: host, port: port, routes: endpoints.routes, logger: logger))
    }
    let leaseExpiry = LeaseExpiry.run(backend: backend, logger: logger)
    let committer = BackendCommitter.run(machine: v3Store, every: operations.backendBatch.interval)
    let corruptionWatch = operations.corruptCheckInterval.map {
        CorruptionCheck.periodic(every: $0, backend: backend, logger: logger)
    }
    let compactor = operations.autoCompaction.map { AutoCompaction.run($0, backend: backend, clock: ContinuousClock(), logger: logger) }
    logger.info(
        "ready to serve client requests",
        metadata: ["name": "\(configuration.server.member.name)", "client-url": "\(configuration.server.member.clientURL)",
                   "data-dir": "\(configuration.server.dataDirectory)"])
    // Type=notify units wait for this before starting what depends on etcd: as etcd, only once
    // this member has published itself to the cluster (so with its quorum up), not at listening.
    let readiness = Task {
        guard await server.publishedItself() else { return }
        if let problem = SystemdNotify.send("READY=1", environment: Environment.variables()) {
            logger.error("failed to notify systemd for readiness: \(problem)")
        }
    }
    for (host, port) in configuration.clientListeners {
        if clientTLS == nil || configuration.plaintextClientAddresses.contains("\(host):\(port)") {
            logger.notice("serving insecure client requests on \(host):\(port), this is strongly discouraged!")
        } else {
            logger.info("serving client requests on \(host):\(port)")
        }
    }

    // A member of `etcd lab` ends with the lab, even one killed without a chance to stop it.
    if configuration.server.raftView?.labControlURL != nil { LabParent.watch() }
    // Runs until a signal, or until this member applies its own removal from the cluster.
    let why = await V1ClusterDaemon.stopReason(of: server, signals: stopSignals)
    logger.info("shutting down", metadata: ["reason": "\(why)"])
    // A leader hands over first, so the others need not wait an election timeout; then calls
    // in flight finish (each listener waits up to its grace period), then the Raft loop stops
    // (every entry it acknowledged was synced to the WAL before the acknowledgement).
    await server.transferLeadershipBeforeStopping()
    leaseExpiry.cancel()
    committer.cancel()
    compactor?.cancel()
    corruptionWatch?.cancel()
    await withTaskGroup(of: Void.self) { group in
        for listener in listeners { group.addTask { await listener.stop() } }
        for listener in metricsListeners { group.addTask { await listener.stop() } }
    }
    await server.stop()
    await readiness.value  // settled by the stop, if not before
    // Not needed for safety (the WAL has every entry), but it spares the next start a replay.
    v3Store.commitNow()
    logger.info("stopped serving client requests")
} catch {
    logger.critical("cannot serve: \(error)")
    exit(1)
}
