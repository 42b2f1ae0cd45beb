// The etcd daemon: flags in, a running server out. Everything it runs lives in the stage modules.
import Logging
import NIOPosix
import Raft
import SingleNode

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let arguments = Array(CommandLine.arguments.dropFirst())
let values: [String: String]
do {
    values = try DaemonConfiguration.flagSet.parse(arguments, environment: Environment.variables())
} catch .helpRequested {
    print(DaemonConfiguration.flagSet.usage(program: "etcd"))
    exit(0)
} catch {
    FileHandleOutput.standardError("etcd: \(error)\n\n" + DaemonConfiguration.flagSet.usage(program: "etcd"))
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

let configuration: DaemonConfiguration
do {
    configuration = try DaemonConfiguration.from(values)
} catch {
    FileHandleOutput.standardError("etcd: \(error)\n")
    exit(2)
}
if configuration.forceNewCluster {
    // -f: the original's "force new configuration", data loss by design.
    for folder in ["wal", "snap"] { ForceRemove.tree(configuration.server.dataDirectory + "/" + folder) }
    logger.warning("-f: discarded the log and snapshots", metadata: ["data-dir": "\(configuration.server.dataDirectory)"])
}

// Stop on SIGINT or SIGTERM: close the listeners, then exit 0.
let stopSignals = StopSignals(SIGINT, SIGTERM)

do {
    let group = MultiThreadedEventLoopGroup.singleton
    let server = try await RaftServer.start(configuration.server, group: group, logger: logger)
    var listeners: [V1HTTPServer] = []
    for (host, port) in configuration.clientListeners {
        listeners.append(try await V1HTTPServer.start(host: host, port: port, backend: ReplicatedBackend(server: server), group: group, logger: logger))
    }
    logger.info(
        "ready to serve client requests",
        metadata: ["name": "\(configuration.server.member.name)", "client-url": "\(configuration.server.member.clientURL)",
                   "data-dir": "\(configuration.server.dataDirectory)"])
    for await signalNumber in stopSignals.stream {
        logger.info("received signal, shutting down", metadata: ["signal": "\(signalNumber)"])
        break
    }
    for listener in listeners { try? await listener.close() }
    await server.stop()
    logger.info("stopped serving client requests")
} catch {
    logger.critical("cannot serve: \(error)")
    exit(1)
}
