import Raft
import SingleNode
import Testing

@Suite("The daemon's configuration from flags")
struct DaemonConfigurationTests {
    private func parse(_ arguments: [String]) throws -> DaemonConfiguration {
        try DaemonConfiguration.from(DaemonConfiguration.flagSet.parse(arguments))
    }

    @Test("No flags: a one-machine cluster named default in ./default.etcd, clients on 2379 and 4001, peers on 2380")
    func noFlags() throws {
        let configuration = try parse([])
        #expect(configuration.server.member == Member(name: "default", peerURL: "http://127.0.0.1:2380", clientURL: "http://127.0.0.1:2379"))
        #expect(configuration.server.dataDirectory == "default.etcd")
        #expect(configuration.clientListeners.map(\.port) == [2379, 4001])
        #expect(configuration.server.join.isEmpty)
    }

    @Test("The seed's join command: bare ports, -C, a name from the data directory")
    func seedJoin() throws {
        let configuration = try parse(["-c", "4002", "-s", "7002", "-C", "127.0.0.1:7001, 127.0.0.1:7003", "-d", "nodes/node2", "-maxsize", "5"])
        #expect(configuration.server.member.name == "node2")
        #expect(configuration.server.join == ["127.0.0.1:7001", "127.0.0.1:7003"])
        #expect(configuration.server.maxClusterSize == 5)
        #expect(configuration.clientListeners.map(\.port) == [4002])
    }

    @Test("Timing flags become the tick and the election timeout in ticks; etcd's rule of five heartbeats holds")
    func timing() throws {
        let configuration = try parse(["-heartbeat-interval", "50", "--election-timeout=600", "-snapshot-count", "500"])
        #expect(configuration.server.heartbeatInterval == .milliseconds(50))
        #expect(configuration.server.electionTicks == 12)
        #expect(configuration.server.snapshotCount == 500)
        #expect { try parse(["-heartbeat-interval", "100", "-election-timeout", "400"]) } throws: {
            "\($0)" == "--election-timeout[400ms] should be at least as 5 times as --heartbeat-interval[100ms]"
        }
        #expect(throws: V1Flags.InvalidValue.self) { try parse(["-snapshot-count", "0"]) }
    }
}
