// Stage 1 on its own: one machine, in memory, the v1 API. For learners who want to study the
// keys store and its HTTP API before Raft exists: `swift run etcd-stage1 -c 4001`.
import Logging
import SingleNode

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let values: [String: String]
do {
    values = try V1Flags.flagSet.parse(Array(CommandLine.arguments.dropFirst()))
} catch .helpRequested {
    print(V1Flags.flagSet.usage(program: "etcd-stage1"))
    exit(0)
} catch {
    FileHandleOutput.standardError("etcd-stage1: \(error)\n")
    exit(2)
}
if values["version"] == "true" {
    print("etcd \(V1Flags.versionText) (stage 1)")
    exit(0)
}
let level: Logger.Level = values["v"] == "true" || values["vv"] == "true" ? .debug : .info
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = level
    return handler
}
let configuration: SingleNodeConfiguration
do {
    configuration = try V1Flags.configuration(from: values)
} catch {
    FileHandleOutput.standardError("etcd-stage1: \(error)\n")
    exit(2)
}
let stopSignals = StopSignals(SIGINT, SIGTERM)
let logger = Logger(label: "etcd-stage1")
do {
    let server = try await SingleNodeServer.start(configuration, logger: logger)
    for await _ in stopSignals.stream { break }
    try await server.stop()
} catch {
    logger.critical("cannot serve: \(error)")
    exit(1)
}
