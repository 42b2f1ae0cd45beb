import RaftCore
import RaftTestKit
import Testing

@Suite("Raft paper §5.1-5.2 and §9.6: terms, votes and elections", .timeLimit(.minutes(3)))
struct ElectionTests {
    @Test("A follower that hears from no leader for an election timeout campaigns (§5.2)")
    func followerTimesOut() {
        var cluster = MemoryCluster(size: 3, preVote: false)
        cluster.tick(1, times: 20)
        #expect(cluster.node(1).role == .candidate)
        #expect(cluster.node(1).term == 1)
        #expect(cluster.node(1).vote == 1, "a candidate votes for itself")
        let requests = cluster.take(.vote)
        #expect(Set(requests.map(\.to)) == [2, 3])
    }

    @Test("Election timeouts are randomized between one and two election timeouts (§5.2)")
    func randomizedTimeouts() {
        var seen = Set<Int>()
        for seed in 1...50 as ClosedRange<UInt64> {
            var config = RaftConfig(id: 1)
            config.randomSeed = seed
            var node = RaftNode(config: config, storage: MemoryStorage(confState: ConfState(voters: [1, 2, 3])))
            var ticks = 0
            while node.role == .follower && ticks < 100 { node.tick(); ticks += 1 }
            #expect((10..<20).contains(ticks))
            seen.insert(ticks)
        }
        #expect(seen.count > 3, "timeouts must differ between nodes to break ties")
    }

    @Test("A candidate with votes from a majority becomes leader and appends an empty entry (§5.2, §8)")
    func candidateWins() {
        var cluster = MemoryCluster(size: 5)
        cluster.elect(3)
        #expect(cluster.leader == 3)
        #expect(cluster.node(3).lastIndex == 1)
        for id in cluster.ids { #expect(cluster.node(id).commitIndex == 1) }
    }

    @Test("A node grants at most one vote per term (§5.2)")
    func oneVotePerTerm() {
        var cluster = MemoryCluster(size: 3, preVote: false)
        var voter = cluster.node(3)
        voter.step(Message(kind: .vote, to: 3, from: 1, term: 1))
        voter.step(Message(kind: .vote, to: 3, from: 2, term: 1))
        let answers = voter.ready().messages.filter { $0.kind == .voteResponse }
        #expect(answers.map(\.reject) == [false, true])
        #expect(voter.vote == 1)
        cluster.nodes[3] = voter
    }

    @Test("A node that sees a higher term adopts it and becomes a follower (§5.1)")
    func higherTermWins() {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        cluster.nodes[1]!.step(Message(kind: .append, to: 1, from: 2, term: 5))
        #expect(cluster.node(1).role == .follower)
        #expect(cluster.node(1).term == 5)
        #expect(cluster.node(1).leader == 2)
    }

    @Test("A request from an earlier term is refused, and the answer carries the current term (§5.1)")
    func staleTermRefused() {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        cluster.nodes[1]!.transferLeadership(to: 2)
        cluster.stabilize()
        #expect(cluster.leader == 2)
        #expect(cluster.node(2).term == 2)
        var node = cluster.node(3)
        node.step(Message(kind: .append, to: 3, from: 1, term: 1, index: 1, entries: [Entry(term: 1, index: 2)]))
        let answer = node.ready().messages.first { $0.to == 1 }
        #expect(answer?.term == 2)
        #expect(node.lastIndex == 2, "the stale entry was not appended")
    }

    @Test("A voter refuses a candidate whose log is less up to date (§5.4.1)")
    func upToDateRule() {
        var cluster = MemoryCluster(size: 3, preVote: false)
        cluster.elect(1)
        cluster.isolate(3)
        try! cluster.propose(1, "x")
        cluster.stabilize()
        cluster.heal()
        // Node 3 missed entry 2; its campaign must fail.
        cluster.nodes[3]!.campaign()
        cluster.stabilize()
        #expect(cluster.node(3).role != .leader)
        #expect(cluster.leader != 3)
    }

    @Test("With PreVote, a node returning from a partition does not bump the term (§9.6)")
    func preVoteKeepsTerm() {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        cluster.isolate(3)
        cluster.tick(3, times: 100)
        #expect(cluster.node(3).role == .preCandidate)
        #expect(cluster.node(3).term == 1, "a pre-candidate never bumps its term")
        cluster.stabilize()
        cluster.heal()
        cluster.tickAll(times: 1)
        cluster.stabilize()
        #expect(cluster.leader == 1, "the healthy leader keeps leading")
        #expect(cluster.node(1).term == 1)
    }

    @Test("Without PreVote, the same node disrupts the cluster by bumping the term")
    func withoutPreVoteDisrupts() {
        var cluster = MemoryCluster(size: 3, preVote: false, checkQuorum: false)
        cluster.elect(1)
        cluster.isolate(3)
        cluster.tick(3, times: 100)
        #expect(cluster.node(3).term > 1)
        cluster.heal()
        cluster.stabilize()
        cluster.tick(1, times: 1)
        cluster.stabilize()
        #expect(cluster.node(1).term > 1, "the leader was deposed by a higher term")
    }

    @Test("CheckQuorum: a leader that cannot hear a quorum steps down within an election timeout")
    func checkQuorumStepsDown() {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        cluster.isolate(1)
        cluster.tick(1, times: 25)
        #expect(cluster.node(1).role == .follower)
    }

    @Test("Leader lease: followers that hear from the leader ignore a disruptive vote request")
    func leaseIgnoresVotes() {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        var follower = cluster.node(2)
        follower.step(Message(kind: .vote, to: 2, from: 3, term: 9, logTerm: 1, index: 1))
        #expect(follower.term == 1, "the vote request was ignored")
        #expect(follower.ready().messages.isEmpty)
    }
}
