import RaftCore
import RaftTestKit
import Testing

@Suite("Snapshots, log compaction and membership changes", .timeLimit(.minutes(3)))
struct SnapshotAndMembershipTests {
    /// Compacts the leader's log through its applied index, as the shell does after a snapshot.
    private func compactLeader(_ cluster: inout MemoryCluster, _ id: NodeID) throws {
        var node = cluster.nodes[id]!
        let applied = node.appliedIndex
        let data = Array(cluster.appliedTexts(id).joined(separator: ",").utf8)
        try node.storage.createSnapshot(at: applied, confState: node.confState, data: data)
        try node.storage.compact(through: applied)
        cluster.nodes[id] = node
    }

    @Test("A follower behind the leader's compacted log is sent a snapshot, then entries after it (§7)")
    func installSnapshot() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        cluster.isolate(3)
        for n in 0..<10 { try cluster.propose(1, "e\(n)") }
        cluster.stabilize()
        try compactLeader(&cluster, 1)
        cluster.heal()
        try cluster.propose(1, "after")
        cluster.stabilize()
        cluster.tick(1)
        cluster.stabilize()
        let follower = cluster.node(3)
        #expect(follower.commitIndex == cluster.node(1).commitIndex)
        let snapshot = try follower.storage.snapshot()
        #expect(snapshot.metadata.index == 11)
        #expect(String(decoding: snapshot.data, as: UTF8.self).hasSuffix("e9"))
        #expect(cluster.appliedTexts(3).last == "after")
    }

    @Test("A learner receives the log but does not vote or count towards commit, then is promoted")
    func learnerThenPromote() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.nodes[4] = RaftNode(
            config: { var c = RaftConfig(id: 4); c.randomSeed = 4; return c }(),
            storage: MemoryStorage(confState: ConfState(voters: [1, 2, 3], learners: [4])))
        cluster.elect(1)
        try cluster.nodes[1]!.proposeConfChange(ConfChange(.addLearner, nodeID: 4))
        cluster.stabilize()
        #expect(cluster.node(1).confState.learners == [4])
        try cluster.propose(1, "to everyone")
        cluster.stabilize()
        #expect(cluster.appliedTexts(4) == ["to everyone"])
        // A learner never campaigns.
        cluster.tick(4, times: 100)
        #expect(cluster.node(4).role == .follower)
        // With two voters down, the learner's copy does not make a quorum.
        cluster.isolate(2)
        cluster.isolate(3)
        try cluster.propose(1, "needs a voter")
        cluster.stabilize()
        #expect(cluster.appliedTexts(1) == ["to everyone"])
        cluster.heal()
        cluster.stabilize()
        try cluster.nodes[1]!.proposeConfChange(ConfChange(.addVoter, nodeID: 4))
        cluster.stabilize()
        #expect(cluster.node(1).confState.voters == [1, 2, 3, 4])
        #expect(cluster.node(4).confState.voters == [1, 2, 3, 4])
    }

    @Test("One membership change at a time: a second is refused until the first is applied")
    func oneChangeAtATime() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        try cluster.nodes[1]!.proposeConfChange(ConfChange(.addLearner, nodeID: 4))
        #expect(throws: RaftError.confChangePending) { try cluster.nodes[1]!.proposeConfChange(ConfChange(.addLearner, nodeID: 5)) }
        cluster.stabilize()
        #expect(throws: Never.self) { try cluster.nodes[1]!.proposeConfChange(ConfChange(.addLearner, nodeID: 5)) }
    }

    @Test("A new leader accepts no membership change until an entry of its own term is applied")
    func leaderCommitsOwnTermFirst() throws {
        // The leader's empty entry is not yet applied: its Ready has not been handled.
        var fresh = MemoryCluster(size: 3)
        fresh.nodes[1]!.campaign()
        for message in fresh.take(.preVote) { fresh.nodes[message.to]!.step(message) }
        for message in fresh.take(.preVoteResponse) { fresh.nodes[1]!.step(message) }
        for message in fresh.take(.vote) { fresh.nodes[message.to]!.step(message) }
        for message in fresh.take(.voteResponse) { fresh.nodes[1]!.step(message) }
        #expect(fresh.node(1).role == .leader)
        #expect(throws: RaftError.confChangePending) { try fresh.nodes[1]!.proposeConfChange(ConfChange(.remove, nodeID: 3)) }
        fresh.stabilize()
        #expect(throws: Never.self) { try fresh.nodes[1]!.proposeConfChange(ConfChange(.remove, nodeID: 3)) }
    }

    @Test("Removing the leader: it steps down and the others elect a new one")
    func removeLeader() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        try cluster.nodes[1]!.proposeConfChange(ConfChange(.remove, nodeID: 1))
        cluster.stabilize()
        #expect(cluster.node(1).role == .follower)
        #expect(cluster.node(2).confState.voters == [2, 3])
        for _ in 0..<40 where cluster.leader == nil || cluster.leader == 1 {
            cluster.tickAll()
            cluster.stabilize()
        }
        let leader = try #require(cluster.leader)
        #expect([2, 3].contains(leader))
        try cluster.propose(leader, "two voters")
        cluster.stabilize()
        #expect(cluster.appliedTexts(2) == ["two voters"])
    }

    @Test("A removed follower no longer counts: two of the remaining three commit")
    func removeFollower() throws {
        var cluster = MemoryCluster(size: 4)
        cluster.elect(1)
        try cluster.nodes[1]!.proposeConfChange(ConfChange(.remove, nodeID: 4))
        cluster.stabilize()
        cluster.isolate(4)
        cluster.isolate(3)
        try cluster.propose(1, "with two of three")
        cluster.stabilize()
        #expect(cluster.appliedTexts(2) == ["with two of three"])
    }
}
