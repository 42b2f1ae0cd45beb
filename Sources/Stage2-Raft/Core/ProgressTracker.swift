/// The membership as the core counts it (etcd-raft's `tracker`): who votes, who only learns,
/// how far the leader knows each member's log to match (`Progress`), and the votes of the
/// current election. Every quorum question is answered here.
struct ProgressTracker: Sendable {
    /// Every member, voters and learners, this node included. Only a leader uses the entries
    /// for other members; `match` of its own entry is what it has persisted.
    var progress: [NodeID: Progress] = [:]
    private(set) var voters: Set<NodeID> = []
    private(set) var learners: Set<NodeID> = []
    /// Votes received in the current (pre-)election: true for granted.
    private(set) var votes: [NodeID: Bool] = [:]
    let maxInflight: Int

    init(maxInflight: Int) { self.maxInflight = maxInflight }

    var confState: ConfState { ConfState(voters: Array(voters), learners: Array(learners)) }

    /// Every member but `me`, in ID order (the order messages go out in, so runs repeat).
    func others(than me: NodeID) -> [NodeID] { progress.keys.filter { $0 != me }.sorted() }

    /// Sets the membership, keeping the progress of members that stay. A new member's log is
    /// unknown: it is probed from `next`, but counted as active so that a leader sends it a
    /// snapshot if it needs one.
    mutating func apply(_ state: ConfState, next: UInt64, me: NodeID, persisted: UInt64) {
        voters = Set(state.voters)
        learners = Set(state.learners)
        for member in voters.union(learners) where progress[member] == nil {
            var fresh = Progress(next: next, maxInflight: maxInflight, isLearner: learners.contains(member))
            fresh.recentActive = true
            if member == me { fresh.match = persisted }
            progress[member] = fresh
        }
        for member in progress.keys where !voters.contains(member) && !learners.contains(member) {
            progress[member] = nil
        }
        for member in progress.keys { progress[member]?.isLearner = learners.contains(member) }
    }

    /// A new term: every member is probed from `next`, and no votes are counted.
    mutating func reset(next: UInt64, me: NodeID, persisted: UInt64) {
        votes = [:]
        for member in progress.keys {
            var fresh = Progress(next: next, maxInflight: maxInflight, isLearner: learners.contains(member))
            if member == me { fresh.match = persisted }
            progress[member] = fresh
        }
    }

    /// Forgets every member's progress (a snapshot replaces the log it was measured against).
    mutating func forgetProgress() { progress = [:] }

    // MARK: Quorums

    /// The largest index a majority of voters have matched (Raft §5.3, §5.4); `.max` with no
    /// voters.
    var committedIndex: UInt64 { Quorum.committedIndex(voters.map { progress[$0]?.match ?? 0 }) }

    /// Whether a majority of voters answered since the last check (CheckQuorum), `me` always.
    func isQuorumActive(me: NodeID) -> Bool {
        isQuorum(voters.filter { $0 == me || progress[$0]?.recentActive == true })
    }

    /// Starts the next CheckQuorum interval: nobody but `me` has answered yet.
    mutating func markInactive(except me: NodeID) {
        for member in progress.keys where member != me { progress[member]?.recentActive = false }
    }

    /// Whether `members` hold a majority of the voters (members that do not vote are not counted).
    func isQuorum(_ members: Set<NodeID>) -> Bool {
        members.filter { voters.contains($0) }.count >= voters.count / 2 + 1
    }

    mutating func resetVotes() { votes = [:] }

    /// Records `voter`'s first answer in this election and tallies the votes.
    mutating func recordVote(_ voter: NodeID, granted: Bool) -> Quorum.VoteResult {
        if votes[voter] == nil { votes[voter] = granted }
        let yes = votes.filter { voters.contains($0.key) && $0.value }.count
        let no = votes.filter { voters.contains($0.key) && !$0.value }.count
        return Quorum.result(voters: voters.count, granted: yes, rejected: no)
    }
}

/// Quorum arithmetic over the voters.
enum Quorum {
    /// The largest index that a majority of `matches` have reached (Raft §5.3, §5.4).
    static func committedIndex(_ matches: [UInt64]) -> UInt64 {
        guard !matches.isEmpty else { return .max }
        let sorted = matches.sorted(by: >)
        return sorted[sorted.count / 2]
    }

    /// Whether `granted` of `voters` is a majority; `rejected` decides a loss early.
    enum VoteResult { case won, lost, pending }

    static func result(voters: Int, granted: Int, rejected: Int) -> VoteResult {
        let majority = voters / 2 + 1
        if granted >= majority { return .won }
        if voters - rejected < majority { return .lost }
        return .pending
    }
}

extension ConfState {
    /// The membership after `change` (thesis §4.1: one server at a time).
    func applying(_ change: ConfChange) -> ConfState {
        var state = self
        switch change.kind {
        case .addVoter:
            state.learners.removeAll { $0 == change.nodeID }
            if !state.voters.contains(change.nodeID) { state.voters.append(change.nodeID) }
        case .addLearner:
            // Demoting a voter is not supported: it could shrink a quorum unsafely in one step.
            if !state.voters.contains(change.nodeID) && !state.learners.contains(change.nodeID) {
                state.learners.append(change.nodeID)
            }
        case .remove:
            state.voters.removeAll { $0 == change.nodeID }
            state.learners.removeAll { $0 == change.nodeID }
        case .update:
            break
        }
        return ConfState(voters: state.voters, learners: state.learners)  // sorted, as a ConfState keeps them
    }
}
