import Raft
import SingleNode
import Testing

/// `--force-new-cluster` on real members: the survivor of a lost majority restarts alone with
/// its data, and serves.
@Suite("Forcing a new cluster from a survivor's data", .serialized, .timeLimit(.minutes(3)))
struct ForceNewClusterTests {
    @Test("A survivor of three restarts as a cluster of one with every committed write, and takes writes")
    func survivorServesAlone() async throws {
        let members = try await startThreeMembers()
        defer { Task { for member in members { await member.stop() } } }
        let leader = members.first { $0.isLeader }!
        for index in 0..<5 { _ = try await leader.write(.set(key: "/k\(index)", value: "v\(index)", expiration: nil)) }
        let survivor = members.first { $0 !== leader }!
        try await waitUntil("the survivor has every write") { survivor.value("/k4") == "v4" }
        for member in members { await member.stop() }

        // The other two are lost for good: without the rewrite the survivor could never elect itself.
        let configuration = RaftServerConfiguration(
            member: survivor.member, dataDirectory: survivor.directory.path + "/" + survivor.dataName, peerListenPort: survivor.peerPort)
        let outcome = try #require(try ForceNewCluster.rewrite(configuration))
        #expect(Set(outcome.removed) == Set(members.filter { $0 !== survivor }.map(\.member.id)))
        #expect(outcome.memberID == survivor.member.id)

        // Its peer port was just closed; on a busy machine the close can take a moment.
        try await waitUntil("the survivor's peer port can be bound again") { canBind(survivor.peerPort) }
        try await survivor.start()
        try await waitUntil("the survivor leads alone") { survivor.isLeader }
        #expect(survivor.server!.status.members.map(\.name) == [survivor.name])
        #expect(survivor.value("/k0") == "v0" && survivor.value("/k4") == "v4")
        guard case .completed(.success) = try await survivor.write(.set(key: "/after", value: "forced", expiration: nil)) else {
            Issue.record("the forced cluster does not take writes")
            return
        }
        // A second restart needs nothing forced: the log now says it is alone.
        await survivor.stop()
        try await survivor.start()
        try await waitUntil("it leads again after a plain restart") { survivor.isLeader }
        #expect(survivor.value("/after") == "forced")
    }

    @Test("A new data directory has no log to rewrite: the member founds a cluster as usual")
    func nothingToRewrite() throws {
        let member = TestMember("fresh")
        let configuration = RaftServerConfiguration(member: member.member, dataDirectory: member.directory.path + "/none", peerListenPort: member.peerPort)
        #expect(try ForceNewCluster.rewrite(configuration) == nil)
    }
}
