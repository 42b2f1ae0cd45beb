// Stage 2 on its own: the v1 API replicated over Raft, on disk, between machines; no TLS and no
// v3 API. For learners who want to run Stage 2's cluster without the later stages:
// `swift run etcd-stage2 -n node1 -s 7001 -c 4001 -d nodes/node1`, then join others with `-C`.
import Logging
import Raft
import SingleNode

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let values = DaemonCommand.begin(program: "etcd-stage2", stage: 2, flagSet: DaemonConfiguration.flagSet)
let configuration: DaemonConfiguration
do { configuration = try DaemonConfiguration.from(values) } catch { DaemonCommand.fail("etcd-stage2", error) }
let logger = Logger(label: "etcd-stage2")
do { try DataDirectory.prepare(configuration, logger: logger) } catch { DaemonCommand.fail("etcd-stage2", error) }
do {
    try await V1ClusterDaemon.run(configuration, stopSignals: StopSignals(SIGINT, SIGTERM), logger: logger)
} catch {
    logger.critical("cannot serve: \(error)")
    exit(1)
}
