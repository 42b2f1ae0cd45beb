// The etcd daemon: flags in, a running server out. Everything it runs lives in the stage modules.
import Logging
import SingleNode

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let arguments = Array(CommandLine.arguments.dropFirst())
let values: [String: String]
do {
    values = try V1Flags.flagSet.parse(arguments)
} catch .helpRequested {
    print(V1Flags.flagSet.usage(program: "etcd"))
    exit(0)
} catch {
    FileHandleOutput.standardError("etcd: \(error)\n\n" + V1Flags.flagSet.usage(program: "etcd"))
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

let configuration: SingleNodeConfiguration
do {
    configuration = try V1Flags.configuration(from: values)
    if let machines = values["C"], !machines.isEmpty {
        throw V1Flags.InvalidValue(
            description: "-C \(machines): joining a cluster needs the replicated daemon of Stage 2; this build runs one machine")
    }
} catch {
    FileHandleOutput.standardError("etcd: \(error)\n")
    exit(2)
}

// Stop on SIGINT or SIGTERM: close the listener, then exit 0.
let stopSignals = StopSignals(SIGINT, SIGTERM)

do {
    let server = try await SingleNodeServer.start(configuration, logger: logger)
    for await signalNumber in stopSignals.stream {
        logger.info("received signal, shutting down", metadata: ["signal": "\(signalNumber)"])
        break
    }
    try await server.stop()
} catch {
    logger.critical("cannot serve: \(error)")
    exit(1)
}

