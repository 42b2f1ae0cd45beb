import RaftCore
import RaftTestKit
import Testing

/// The rules of the Raft paper's Figure 2 not already covered by the election and replication
/// suites, one test each.
@Suite("Raft paper Figure 2: the remaining rules, one test each", .timeLimit(.minutes(3)))
struct Figure2Tests {
    private func node(_ id: NodeID, preVote: Bool = false, storage: MemoryStorage? = nil) -> RaftNode<MemoryStorage> {
        var config = RaftConfig(id: id)
        config.preVote = preVote
        return RaftNode(config: config, storage: storage ?? MemoryStorage(confState: ConfState(voters: [1, 2, 3])))
    }

    @Test("Candidates (§5.2): an append from a leader of the same term turns a candidate into a follower")
    func candidateYieldsToLeader() {
        var candidate = node(1)
        candidate.campaign()
        #expect(candidate.role == .candidate)
        candidate.step(Message(kind: .append, to: 1, from: 2, term: 1))
        #expect(candidate.role == .follower)
        #expect(candidate.leader == 2)
    }

    @Test("Candidates (§5.2): when an election times out, a new one starts in the next term")
    func candidateRetries() {
        var candidate = node(1)
        candidate.campaign()
        for _ in 0..<20 { candidate.tick() }
        #expect(candidate.role == .candidate)
        #expect(candidate.term == 2)
    }

    @Test("RequestVote rule 1: a vote request from an earlier term is refused")
    func staleVoteRefused() {
        var voter = node(2)
        voter.step(Message(kind: .append, to: 2, from: 1, term: 3))
        _ = voter.ready()
        voter.step(Message(kind: .vote, to: 2, from: 3, term: 2, logTerm: 9, index: 9))
        #expect(voter.vote == 0)
        #expect(voter.ready().messages.allSatisfy { $0.kind != .voteResponse || $0.reject })
    }

    @Test("AppendEntries rule 2: an append whose previous entry does not match is refused with a hint")
    func mismatchRefused() {
        var follower = node(2)
        follower.step(Message(kind: .append, to: 2, from: 1, term: 1, logTerm: 1, index: 5, entries: [Entry(term: 1, index: 6)]))
        let answer = follower.ready().messages.first { $0.kind == .appendResponse }
        #expect(answer?.reject == true)
        #expect(answer?.rejectHint == 0, "our log ends before index 5")
        #expect(follower.lastIndex == 0)
    }

    @Test("AppendEntries rule 5: a follower commits up to min(leader's commit, its last new entry)")
    func followerCommit() {
        var follower = node(2)
        let entries = (1...3 as ClosedRange<UInt64>).map { Entry(term: 1, index: $0) }
        follower.step(Message(kind: .append, to: 2, from: 1, term: 1, logTerm: 0, index: 0, entries: entries, commit: 10))
        #expect(follower.commitIndex == 3)
        follower.step(Message(kind: .append, to: 2, from: 1, term: 1, logTerm: 1, index: 3, entries: [Entry(term: 1, index: 4)], commit: 2))
        #expect(follower.commitIndex == 3, "the commit index never moves back")
    }

    @Test("Leaders (§5.2): a leader sends a heartbeat to every follower each heartbeat interval")
    func heartbeats() {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        cluster.tick(1)
        let beats = cluster.take(.heartbeat)
        #expect(Set(beats.map(\.to)) == [2, 3])
    }

    @Test("All servers: entries are applied in log order, and applied never passes committed")
    func applyInOrder() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        for n in 0..<20 { try cluster.propose(1, "\(n)") }
        cluster.stabilize()
        for id in cluster.ids {
            let indexes = cluster.appliedEntries[id]!.map(\.index)
            #expect(indexes == Array(1...UInt64(indexes.count)))
            #expect(cluster.node(id).appliedIndex <= cluster.node(id).commitIndex)
        }
    }
}
