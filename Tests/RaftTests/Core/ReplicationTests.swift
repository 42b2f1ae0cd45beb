import RaftCore
import RaftTestKit
import Testing

@Suite("Raft paper §5.3-5.4: log replication, commitment and safety", .timeLimit(.minutes(3)))
struct ReplicationTests {
    @Test("The leader replicates a proposal and every node applies it once a majority has it (§5.3)")
    func replicateAndCommit() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        try cluster.propose(1, "a")
        cluster.stabilize()
        for id in cluster.ids { #expect(cluster.appliedTexts(id) == ["a"]) }
    }

    @Test("An entry on a minority is not committed; it commits once a majority has it (§5.3)")
    func majorityNeeded() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        cluster.isolate(1)
        try cluster.propose(1, "lonely")
        cluster.stabilize()
        #expect(cluster.node(1).commitIndex == 1)
        #expect(cluster.appliedTexts(1).isEmpty)
        cluster.heal()
        cluster.tick(1)
        cluster.stabilize()
        #expect(cluster.appliedTexts(2) == ["lonely"])
    }

    @Test("Proposals since the last Ready are sent in one append per follower (batching)")
    func batching() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        for n in 0..<50 { try cluster.propose(1, "p\(n)") }
        let appends = cluster.take(.append)
        #expect(appends.count == 2)
        #expect(appends.allSatisfy { $0.entries.count == 50 })
    }

    @Test("Proposals to a follower are forwarded to the leader; with no leader they are refused")
    func forwarding() throws {
        var cluster = MemoryCluster(size: 3)
        #expect(throws: RaftError.proposalDropped) { try cluster.propose(2, "nobody leads") }
        cluster.elect(1)
        try cluster.propose(2, "forwarded")
        cluster.stabilize()
        #expect(cluster.appliedTexts(3) == ["forwarded"])
    }

    @Test("A follower with a divergent log is repaired: conflicting entries replaced (§5.3, Log Matching)")
    func repairDivergentLog() throws {
        var cluster = MemoryCluster(size: 3, preVote: false, checkQuorum: false)
        cluster.elect(1)
        // Node 1 appends entries no one else gets, then loses leadership.
        cluster.isolate(1)
        for n in 0..<5 { try cluster.propose(1, "orphan\(n)") }
        cluster.stabilize()
        cluster.heal()
        cluster.isolate(1)
        cluster.elect(2)
        for n in 0..<3 { try cluster.propose(2, "kept\(n)") }
        cluster.stabilize()
        cluster.heal()
        cluster.tick(2)
        cluster.stabilize()
        for id in cluster.ids { #expect(cluster.appliedTexts(id) == ["kept0", "kept1", "kept2"]) }
        #expect(cluster.node(1).lastIndex == cluster.node(2).lastIndex)
    }

    @Test("Fast backtracking: a follower behind by many entries of one term is repaired in a few round trips")
    func fastBacktracking() throws {
        var cluster = MemoryCluster(size: 3, preVote: false, checkQuorum: false)
        cluster.elect(1)
        cluster.isolate(1)
        for n in 0..<200 { try cluster.propose(1, "orphan\(n)") }
        cluster.stabilize()
        cluster.heal()
        cluster.isolate(1)
        cluster.elect(2)
        try cluster.propose(2, "new")
        cluster.stabilize()
        cluster.heal()
        cluster.nodes[2]!.step(Message(kind: .heartbeatResponse, to: 2, from: 1, term: cluster.node(2).term))
        var rejections = 0
        for _ in 0..<50 {
            for id in cluster.ids { cluster.handleReady(id) }
            if cluster.inFlight.isEmpty { break }
            let batch = cluster.inFlight
            cluster.inFlight = []
            rejections += batch.filter { $0.kind == .appendResponse && $0.reject }.count
            for message in batch { cluster.nodes[message.to]!.step(message) }
        }
        #expect(rejections <= 2, "one rejection per conflicting term, not one per entry")
        #expect(cluster.appliedTexts(1) == ["new"])
    }

    @Test("A leader counts its own copy of an entry only once it is persisted (thesis §10.2.1)")
    func leaderCountsItselfAfterPersisting() {
        var storage = MemoryStorage(confState: ConfState(voters: [1, 2, 3]))
        storage.setHardState(HardState(term: 1))
        var config = RaftConfig(id: 1)
        config.preVote = false
        var node = RaftNode(config: config, storage: storage)
        node.campaign()
        node.step(Message(kind: .voteResponse, to: 1, from: 2, term: 2))
        var ready = node.ready()
        #expect(ready.canSendBeforePersisting == false, "the new term and vote are not on disk yet")
        node.storage.setHardState(ready.hardState!)
        node.storage.append(ready.entries)
        node.advance(ready)
        try? node.propose([1])
        ready = node.ready()
        #expect(ready.canSendBeforePersisting, "a leader with its term on disk may send while writing")
        // Follower 2 has persisted entries 1 and 2 (index 2 is the proposal); the leader has not.
        node.step(Message(kind: .appendResponse, to: 1, from: 2, term: 2, index: 2))
        #expect(node.commitIndex == 1, "one persisted copy of entry 2 is not a majority")
        node.storage.append(ready.entries)
        node.advance(ready)
        #expect(node.commitIndex == 2, "with the leader's own write done, two of three have it")
    }

    @Test("Figure 8: a leader does not commit an entry of an earlier term by counting replicas (§5.4.2)")
    func figure8() {
        // A node whose log holds entries of terms 1 and 2 becomes leader of term 3 and appends
        // its own entry 3. Followers acknowledging entries 1 and 2 commit nothing; entry 3 on a
        // majority commits everything up to it.
        var storage = MemoryStorage(confState: ConfState(voters: [1, 2, 3]))
        storage.append([Entry(term: 1, index: 1), Entry(term: 2, index: 2)])
        storage.setHardState(HardState(term: 2))
        var config = RaftConfig(id: 1)
        config.preVote = false
        var node = RaftNode(config: config, storage: storage)
        node.campaign()
        node.step(Message(kind: .voteResponse, to: 1, from: 2, term: 3))
        #expect(node.role == .leader)
        #expect(node.lastIndex == 3)
        // The leader's own entry counts once it is on disk.
        let ready = node.ready()
        node.storage.append(ready.entries)
        node.advance(ready)
        for (acknowledged, expectedCommit) in [(UInt64(1), UInt64(0)), (2, 0), (3, 3)] {
            node.step(Message(kind: .appendResponse, to: 1, from: 2, term: 3, index: acknowledged))
            #expect(node.commitIndex == expectedCommit, "after an acknowledgement of \(acknowledged)")
        }
    }

    @Test("ReadIndex: a read is confirmed by a quorum of heartbeats at the commit index (thesis §6.4)")
    func readIndex() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        try cluster.propose(1, "x")
        cluster.stabilize()
        cluster.nodes[1]!.readIndex(context: [7])
        cluster.stabilize()
        #expect(cluster.readStates[1] == [ReadState(index: 2, requestContext: [7])])
        // From a follower: forwarded, answered by the leader.
        cluster.nodes[3]!.readIndex(context: [8])
        cluster.stabilize()
        #expect(cluster.readStates[3] == [ReadState(index: 2, requestContext: [8])])
        // A leader cut off from the quorum confirms nothing.
        cluster.isolate(1)
        cluster.nodes[1]!.readIndex(context: [9])
        cluster.stabilize()
        #expect(cluster.readStates[1]?.count == 1)
    }

    @Test("ReadIndex: a new leader holds reads until it commits an entry of its term, then answers them (thesis §6.4)")
    func readIndexWaitsForTheFirstCommit() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        try cluster.propose(1, "x")
        cluster.stabilize()
        // Hand leadership to 2 and stop as soon as it leads, before its empty entry commits:
        // its commit index (2) is from node 1's term.
        cluster.nodes[1]!.transferLeadership(to: 2)
        for _ in 0..<20 where cluster.node(2).role != .leader {
            for id in cluster.ids { cluster.handleReady(id) }
            let batch = cluster.inFlight
            cluster.inFlight = []
            for message in batch { cluster.deliver(message) }
        }
        #expect(cluster.node(2).role == .leader)
        #expect(cluster.node(2).commitIndex == 2)
        cluster.nodes[2]!.readIndex(context: [5])
        cluster.handleReady(2)
        // Held: no heartbeat round confirms it yet at an index from an earlier term.
        #expect(!cluster.inFlight.contains { $0.kind == .heartbeat && $0.context == [5] })
        cluster.stabilize()
        // Answered once index 3, node 2's empty entry, committed.
        #expect(cluster.readStates[2] == [ReadState(index: 3, requestContext: [5])])
    }

    @Test("Leadership transfer: the target catches up, then campaigns and wins (thesis §3.10)")
    func transfer() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        cluster.isolate(3)
        try cluster.propose(1, "before")
        cluster.stabilize()
        cluster.heal()
        cluster.nodes[1]!.transferLeadership(to: 3)
        cluster.stabilize()
        #expect(cluster.leader == 3)
        #expect(cluster.appliedTexts(3) == ["before"])
        #expect(throws: Never.self) { try cluster.propose(3, "after") }
    }
}

@Suite("Replication regressions", .timeLimit(.minutes(3)))
struct ReplicationRegressionTests {
    @Test("Regression: a follower whose whole window of pipelined appends was lost catches up after heartbeats")
    func lostWindowRecovers() throws {
        var cluster = MemoryCluster(size: 3) { $0.maxInflightMessages = 4 }
        cluster.elect(1)
        try cluster.propose(1, "first")
        cluster.stabilize()
        // Everything the leader sends node 3 is lost, without the transport noticing: the
        // pipelined appends fill the window and no answer ever frees it.
        cluster.cut.insert([1, 3])
        for n in 0..<10 {
            try cluster.propose(1, "lost \(n)")
            cluster.stabilize()
        }
        #expect(cluster.appliedTexts(3) == ["first"])
        cluster.heal()
        for _ in 0..<3 {
            cluster.tick(1)
            cluster.stabilize()
        }
        #expect(cluster.appliedTexts(3).count == 11)
    }

    @Test("Regression: a transfer asked of a follower hands leadership to the named member, not the follower")
    func transferFromFollower() {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        cluster.nodes[2]!.transferLeadership(to: 3)
        cluster.stabilize()
        #expect(cluster.leader == 3)
    }
}
