/// A Raft node's state (etcd-raft's `raft`): term, vote, role, the log, the membership and
/// each member's progress, and the role changes. `RaftNode` drives it, as etcd-raft's RawNode
/// drives its `raft`: every tick, request and peer message comes in through `stepMessage`
/// (`Consensus+Step`).
///
/// What each role does with a message is the role's own type, a set of functions over this
/// state, as etcd-raft's `stepFollower`, `stepCandidate` and `stepLeader` are functions of its
/// `raft` chosen by role: `Election` (campaigns, votes, candidates), `Follower`, `Leader`
/// (with `+Replication` and `+ReadIndex`). `+Membership` applies configuration changes.
struct Consensus<Storage: RaftStorage> {
    let id: NodeID
    /// The current term (Raft §5.1).
    var term: UInt64 = 0
    /// Whom this node voted for in `term`, 0 if nobody.
    var vote: NodeID = 0
    /// The leader this node follows in `term`, 0 if unknown.
    var leader: NodeID = 0
    var role = Role.follower

    var log: RaftLog<Storage>
    let config: RaftConfig
    // The membership, each member's progress, and the votes of an election.
    var tracker: ProgressTracker
    // The election timeout and the leader's heartbeat, in ticks.
    var ticks: Ticks
    // The member leadership is being handed to, 0 if none.
    var leadTransferee: NodeID = 0
    // A leader accepts a new configuration change only once this index is applied: the last
    // change it appended, or, right after election, its own first entry (so a leader commits an
    // entry of its own term before changing membership).
    var pendingConfIndex: UInt64 = 0
    // ReadIndex requests the leader holds until a quorum confirms it.
    var readOnly = ReadOnly()
    // Confirmed reads and messages to send, for the next Ready.
    var readStates: [ReadState] = []
    var outbox: [Message] = []
    // Proposals were appended since the last Ready: send them then, in one append per follower.
    var hasUnsentProposals = false
    // The commit index moved when the leader's own write completed: tell the followers.
    var hasUnsentCommit = false

    /// Starts from what `storage` holds (`initialState` is what it said it holds): a fresh node
    /// has an empty log and the membership its storage was created with; a restarted one has
    /// its hard state and log back.
    init(config: RaftConfig, storage: Storage, initialState: (HardState, ConfState)) {
        precondition(config.id != 0, "node ID 0 means none")
        precondition(config.heartbeatTick > 0 && config.electionTick > config.heartbeatTick,
                     "the election timeout must exceed the heartbeat interval")
        self.id = config.id
        self.config = config
        self.ticks = Ticks(
            electionTick: config.electionTick, heartbeatTick: config.heartbeatTick,
            random: SeededRandom(seed: config.randomSeed ^ config.id &* 0x9E37_79B9))
        self.log = RaftLog(storage: storage)
        self.tracker = ProgressTracker(maxInflight: config.maxInflightMessages)
        let (hardState, confState) = initialState
        applyConfState(confState)
        if hardState != HardState() {
            log.commit(to: hardState.commit)
            term = hardState.term
            vote = hardState.vote
        }
        if config.applied > 0 { log.appliedTo(config.applied) }
        becomeFollower(term: term, leader: 0)
    }

    var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    /// Whether this node may campaign: a voter, not a learner.
    var isPromotable: Bool { tracker.voters.contains(id) }

    /// Advances time by one tick: followers and candidates count towards an election, a
    /// leader towards its next heartbeat and its quorum check.
    mutating func tick() {
        switch role {
        case .follower, .preCandidate, .candidate:
            if ticks.electionTimedOut(canCampaign: isPromotable) { _ = stepMessage(Message(kind: .hup, from: id)) }
        case .leader:
            let (quorumCheckDue, heartbeatDue) = ticks.leaderTick()
            if quorumCheckDue {
                if config.checkQuorum { _ = stepMessage(Message(kind: .checkQuorum, from: id)) }
                // A transfer that did not finish within an election timeout is abandoned.
                if role == .leader { leadTransferee = 0 }
            }
            if role == .leader && heartbeatDue { _ = stepMessage(Message(kind: .beat, from: id)) }
        }
    }

    // MARK: Role transitions (the only places the role changes)

    mutating func becomeFollower(term newTerm: UInt64, leader newLeader: NodeID) {
        reset(term: newTerm)
        leader = newLeader
        role = .follower
    }

    mutating func becomePreCandidate() {
        precondition(role != .leader, "a leader does not campaign")
        // A pre-candidate changes neither term nor vote: it only asks.
        tracker.resetVotes()
        leader = 0
        role = .preCandidate
    }

    mutating func becomeCandidate() {
        precondition(role != .leader, "a leader does not campaign")
        reset(term: term + 1)
        vote = id
        role = .candidate
    }

    mutating func becomeLeader() {
        precondition(role == .candidate, "only a candidate becomes leader")
        reset(term: term)
        leader = id
        role = .leader
        tracker.progress[id]?.becomeReplicate()
        // An empty entry of the new term, so earlier entries commit through it (Raft §5.4.2, §8).
        appendEntries([Entry(term: 0, index: 0)])
        // No configuration change until that entry is applied: a leader must commit an entry of
        // its own term before changing membership (the single-server change fix, Ongaro 2015).
        pendingConfIndex = log.lastIndex
    }

    private mutating func reset(term newTerm: UInt64) {
        if term != newTerm {
            term = newTerm
            vote = 0
        }
        leader = 0
        ticks.reset()
        leadTransferee = 0
        tracker.reset(next: log.lastIndex + 1, me: id, persisted: log.persistedIndex)
        pendingConfIndex = 0
        readOnly.reset()
    }

    /// Appends entries of the current term to this leader's own log.
    mutating func appendEntries(_ entries: [Entry]) {
        var last = log.lastIndex
        let stamped = entries.map { entry -> Entry in
            last += 1
            return Entry(term: term, index: last, kind: entry.kind, data: entry.data)
        }
        log.append(stamped)
        // The leader's own copy counts towards a quorum only once it is on disk (`persisted`):
        // that lets the shell send these entries to followers while it writes them (thesis
        // §10.2.1) without ever committing an entry a majority has not persisted.
    }

    // MARK: Sending

    mutating func send(_ message: Message) {
        outbox.append(message.sent(by: id, in: term))
    }
}

extension Consensus: Sendable where Storage: Sendable {}
