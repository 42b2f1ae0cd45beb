import Logging
import NIOPosix
import Raft
import SingleNode
import Synchronization
import Testing

/// Log messages, kept for assertions.
final class LogLines: Sendable {
    let lines = Mutex<[String]>([])

    func logger(_ label: String) -> Logger {
        Logger(label: label) { _ in LineHandler(sink: self) }
    }

    func contains(_ fragment: String) -> Bool { lines.withLock { $0.contains { $0.contains(fragment) } } }

    struct LineHandler: LogHandler {
        let sink: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
            sink.lines.withLock { $0.append("\(event.message) \(fields)") }
        }
    }
}

@Suite("Members of different clusters refuse each other", .serialized, .timeLimit(.minutes(3)))
struct ClusterIdentityTests {
    @Test("Founders with the same token and members agree on the cluster ID; any difference changes it")
    func idsAgree() {
        let founders = [Member(name: "a", peerURL: "http://127.0.0.1:2380", clientURL: ""), Member(name: "b", peerURL: "http://127.0.0.1:2381", clientURL: "")]
        let id = ClusterIdentity.id(token: "t", founders: founders)
        #expect(ClusterIdentity.id(token: "t", founders: founders.reversed()) == id)
        #expect(ClusterIdentity.id(token: "other", founders: founders) != id)
        #expect(ClusterIdentity.id(token: "t", founders: [founders[0]]) != id)
        #expect(ClusterIdentity.hex(0xab).count == 16)
    }

    @Test("A member restarted on a data directory from an old cluster is kept out of the new one")
    func staleDataDirectoryIsRefused() async throws {
        let members = [TestMember("n1"), TestMember("n2"), TestMember("n3")]
        defer { Task { for member in members { await member.stop() } } }
        let founders = members.map(\.member)
        // The old cluster, with a write in it.
        for member in members { try await member.start(initialCluster: founders, token: "old") }
        try await waitUntil("the old cluster elects") { members.contains { $0.isLeader } }
        let oldLeader = members.first { $0.isLeader }!
        _ = try await oldLeader.write(.set(key: "/era", value: "old", expiration: nil))
        try await waitUntil("n3 has the old write") { members[2].value("/era") == "old" }
        for member in members { await member.stop() }

        // A new cluster at the same addresses: n1 and n2 start afresh; n3 keeps its old data.
        let logs = LogLines()
        let (n1, n2, n3) = (members[0], members[1], members[2])
        n1.dataName = "new"
        n2.dataName = "new"
        for member in members { try await member.start(initialCluster: founders, token: "new", logger: logs.logger(member.name)) }

        try await waitUntil("the new cluster elects") { n1.isLeader || n2.isLeader }
        let leader = n1.isLeader ? n1 : n2
        guard case .completed(.success) = try await leader.write(.set(key: "/era", value: "new", expiration: nil)) else {
            Issue.record("the new cluster did not apply a write")
            return
        }
        let refused = (try? await waitUntil("both refusals are logged", within: 5) {
            logs.contains("cluster ID mismatch") && logs.contains("a peer refused this member's connection")
        }) != nil
        #expect(refused, "both ends should log the mismatch")
        // n3 never received the new cluster's log, and never led it.
        #expect(n3.value("/era") == "old")
        #expect(!n3.isLeader)
        #expect((n1.isLeader ? n1 : n2).value("/era") == "new")
    }
}
