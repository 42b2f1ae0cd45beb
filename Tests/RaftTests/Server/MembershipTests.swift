import Foundation
import Logging
import NIOPosix
import Raft
import RaftCore
import RaftDisk
import SingleNode
import Testing

/// Membership changes asked through the API (etcd's MemberAdd and friends), on real members:
/// a member added by peer URL, as a learner, caught up, promoted, restarted, removed.
@Suite("Membership changes through the API", .serialized, .timeLimit(.minutes(3)))
struct MembershipTests {
    @Test("--strict-reconfig-check=false lets a leader add a voter while one member is down (etcd's unchecked mode)")
    func uncheckedReconfiguration() async throws {
        let members = [TestMember("node1"), TestMember("node2"), TestMember("node3")]
        defer { Task { for member in members { await member.stop() } } }
        for member in members { try await member.start(initialCluster: members.map(\.member), strictReconfigCheck: false) }
        try await waitUntil("a leader") { members.contains { $0.isLeader } }
        let leader = members.first { $0.isLeader }!
        let victim = members.first { !$0.isLeader }!
        await victim.stop()
        try await waitUntil("the leader no longer counts the stopped member as connected") {
            await !leader.server!.connectedMembers().contains(victim.member.id)
        }
        // The strict check refuses this very change ("unhealthy cluster", in forwardingAndRefusals).
        let added = try await leader.server!.changeMembership(.add(peerURL: "http://127.0.0.1:2", isLearner: false))
        #expect(added.members.count == 4)
        #expect(added.learners.isEmpty)
    }

    @Test("A joiner stopped before its join completed joins again on restart")
    func interruptedJoin() async throws {
        let first = TestMember("node1"), joiner = TestMember("node2")
        defer { Task { await first.stop(); await joiner.stop() } }
        try await first.start()
        try await waitUntil("node1 leads") { first.isLeader }
        // What a joiner leaves when it stops before the answer: an empty log, no member ID.
        _ = try DiskStorage.open(directory: joiner.directory.path + "/" + joiner.dataName, initialConfState: ConfState())
        try await joiner.start(join: ["127.0.0.1:\(first.peerPort)"])
        try await waitUntil("node1 counts node2 as a member") { first.server!.status.members.count == 2 }
        _ = try await first.write(.set(key: "/after", value: "join", expiration: nil))
        try await waitUntil("node2 has the write") { joiner.value("/after") == "join" }
    }

    @Test("A backup restores into a new cluster with the data and the new members only")
    func backupRestore() async throws {
        let source = TestMember("old")
        defer { Task { await source.stop() } }
        try await source.start()
        try await waitUntil("old leads") { source.isLeader }
        _ = try await source.write(.set(key: "/kept", value: "yes", expiration: nil))
        let backup = try await source.server!.backup()
        let bytes = try backup.bytes()
        backup.discard()

        let restored = TestMember("new1")
        defer { Task { await restored.stop() } }
        let directory = restored.directory.path + "/" + restored.dataName
        let saved = restored.directory.path + "/saved"
        func restore(_ bytes: [UInt8], into directory: String) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: saved))
            try Backup.restore(
                file: saved, length: UInt64(bytes.count), into: directory, stateFile: nil, member: restored.member, initialCluster: [],
                clusterToken: "t")
        }
        try restore(bytes, into: directory)
        // Not twice into the same directory.
        #expect(throws: Backup.RestoreError.self) { try restore(bytes, into: directory) }
        // A length that points past the end (the v1 store's, here) is damage, named as such.
        var damaged = bytes
        damaged[Array("etcd-swift-backup/2\n".utf8).count + 16 + 7] = 0x7F
        #expect(throws: Backup.RestoreError.self) { try restore(damaged, into: restored.directory.path + "/other") }
        try await restored.start()
        try await waitUntil("the restored member leads") { restored.isLeader }
        #expect(restored.value("/kept") == "yes")
        #expect(restored.server!.machine.machines().map(\.name) == ["new1"])
        #expect(restored.server!.status.members.map(\.name) == ["new1"])
        guard case .completed(.success) = try await restored.write(.set(key: "/more", value: "1", expiration: nil)) else {
            Issue.record("the restored cluster does not take writes")
            return
        }
    }
}
