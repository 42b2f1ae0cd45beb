/// A node's sense of time, counted in ticks (etcd-raft's electionElapsed, heartbeatElapsed and
/// randomizedElectionTimeout): how long since a follower last heard from a leader, and when a
/// leader's next heartbeat and quorum check are due. It only counts; what a timeout does is the
/// role's business (`Consensus.tick`).
struct Ticks: Sendable {
    let electionTick: Int
    let heartbeatTick: Int
    /// Ticks since this node last heard from a leader, granted a vote or changed role; for a
    /// leader, since its last quorum check.
    private(set) var electionElapsed = 0
    /// A leader's ticks since its last heartbeat.
    private(set) var heartbeatElapsed = 0
    /// Drawn from electionTick ..< 2 * electionTick at every role change, so that voters time
    /// out at different moments and one usually wins before the others campaign (Raft §5.2).
    private(set) var randomizedElectionTimeout = 0
    private var random: SeededRandom

    init(electionTick: Int, heartbeatTick: Int, random: SeededRandom) {
        self.electionTick = electionTick
        self.heartbeatTick = heartbeatTick
        self.random = random
    }

    /// A new term or role: both counts start over, with a fresh random timeout.
    mutating func reset() {
        electionElapsed = 0
        heartbeatElapsed = 0
        randomizedElectionTimeout = electionTick + Int(random.next() % UInt64(electionTick))
    }

    /// This node heard from its leader, granted a vote, or began a transfer: the election
    /// timeout starts over.
    mutating func restartElectionTimeout() { electionElapsed = 0 }

    /// Whether this node heard from a leader within the minimum election timeout: with
    /// CheckQuorum, a leader's lease, during which campaigns are ignored.
    var isWithinLease: Bool { electionElapsed < electionTick }

    /// A follower's or candidate's tick: whether its randomized election timeout ran out. Only a
    /// node that `canCampaign` times out (and its count starts over).
    mutating func electionTimedOut(canCampaign: Bool) -> Bool {
        electionElapsed += 1
        guard canCampaign && electionElapsed >= randomizedElectionTimeout else { return false }
        electionElapsed = 0
        return true
    }

    /// A leader's tick: whether an election timeout passed since its last quorum check, and
    /// whether a heartbeat is due. Each count starts over when it is due.
    mutating func leaderTick() -> (quorumCheckDue: Bool, heartbeatDue: Bool) {
        heartbeatElapsed += 1
        electionElapsed += 1
        let quorumCheckDue = electionElapsed >= electionTick
        if quorumCheckDue { electionElapsed = 0 }
        let heartbeatDue = heartbeatElapsed >= heartbeatTick
        if heartbeatDue { heartbeatElapsed = 0 }
        return (quorumCheckDue, heartbeatDue)
    }
}
