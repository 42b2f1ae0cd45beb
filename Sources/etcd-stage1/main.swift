// Stage 1 on its own: one machine, in memory, the v1 API. For learners who want to study the
// keys store and its HTTP API before Raft exists: `swift run etcd-stage1 -c 4001`.
import Logging
import SingleNode

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let values = DaemonCommand.begin(program: "etcd-stage1", stage: 1, flagSet: V1Flags.flagSet)
let configuration: SingleNodeConfiguration
do { configuration = try V1Flags.configuration(from: values) } catch { DaemonCommand.fail("etcd-stage1", error) }
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
