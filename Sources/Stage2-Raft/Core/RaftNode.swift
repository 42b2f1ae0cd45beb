/// The Raft consensus algorithm as a pure, deterministic state machine (Ongaro & Ousterhout,
/// "In Search of an Understandable Consensus Algorithm", and Ongaro's thesis), shaped like
/// etcd-io/raft's RawNode.
///
/// Nothing here does I/O, reads a clock or starts a thread. The caller drives it:
/// - `tick()` once per tick of its timer;
/// - `step(_:)` for each message from a peer;
/// - `propose(_:)`, `proposeConfChange(_:)`, `readIndex(_:)`, `transferLeadership(to:)` for
///   its own requests;
/// - `ready()` to take what must be done, and `advance(_:)` when it is done (see `Ready`).
///
/// Ticks and requests become messages, so `stepMessage` is the one place state changes.
public struct RaftNode<Storage: RaftStorage> {
    /// This node's ID.
    public let id: NodeID
    /// The current term (Raft §5.1).
    public internal(set) var term: UInt64 = 0
    /// Whom this node voted for in `term`, 0 if nobody.
    public internal(set) var vote: NodeID = 0
    /// The leader this node follows in `term`, 0 if unknown.
    public internal(set) var leader: NodeID = 0
    /// This node's role.
    public internal(set) var role = Role.follower

    var log: RaftLog<Storage>
    let config: RaftConfig
    // The membership, each member's progress, and the votes of an election.
    var tracker: ProgressTracker
    var electionElapsed = 0
    var heartbeatElapsed = 0
    // Drawn from electionTick ..< 2 * electionTick at every role change.
    var randomizedElectionTimeout = 0
    var random: SeededRandom
    // The member leadership is being handed to, 0 if none.
    var leadTransferee: NodeID = 0
    // A leader accepts a new configuration change only once this index is applied: the last
    // change it appended, or, right after election, its own first entry (so a leader commits an
    // entry of its own term before changing membership).
    var pendingConfIndex: UInt64 = 0
    // ReadIndex requests the leader holds until a quorum confirms it.
    var readOnly = ReadOnly()
    // Confirmed reads, for the next Ready.
    var readStates: [ReadState] = []
    var outbox: [Message] = []
    // Proposals were appended since the last Ready: send them then, in one append per follower.
    var hasUnsentProposals = false
    // The commit index moved when the leader's own write completed: tell the followers.
    var hasUnsentCommit = false
    // What the last Ready reported, to report only changes.
    var reportedHardState: HardState
    var reportedSoftState: (leader: NodeID, role: Role)

    /// Starts a node from what its storage holds: a fresh node has an empty log and the
    /// membership its storage was created with; a restarted one has its hard state and log back.
    public init(config: RaftConfig, storage: Storage) {
        precondition(config.id != 0, "node ID 0 means none")
        precondition(config.heartbeatTick > 0 && config.electionTick > config.heartbeatTick,
                     "the election timeout must exceed the heartbeat interval")
        self.id = config.id
        self.config = config
        self.random = SeededRandom(seed: config.randomSeed ^ config.id &* 0x9E37_79B9)
        self.log = RaftLog(storage: storage)
        self.tracker = ProgressTracker(maxInflight: config.maxInflightMessages)
        let (hardState, confState) = storage.initialState()
        self.reportedHardState = hardState
        self.reportedSoftState = (0, .follower)
        applyConfState(confState)
        if hardState != HardState() {
            log.commit(to: hardState.commit)
            term = hardState.term
            vote = hardState.vote
        }
        if config.applied > 0 { log.appliedTo(config.applied) }
        becomeFollower(term: term, leader: 0)
    }

    /// The hard state as it stands now.
    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    /// The highest index known committed.
    public var commitIndex: UInt64 { log.committed }
    /// The highest index the application reported applied.
    public var appliedIndex: UInt64 { log.applied }
    /// The last index in the log.
    public var lastIndex: UInt64 { log.lastIndex }
    /// The last `count` entries of the log (fewer if the log is shorter or compacted below
    /// them): what a live view of the cluster shows of each member's tail.
    public func logTail(_ count: Int) -> [Entry] {
        let last = log.lastIndex
        guard last > 0, count > 0 else { return [] }
        let low = max(log.firstIndex, last >= UInt64(count) ? last - UInt64(count) + 1 : 1)
        return (try? log.slice(low, last + 1)) ?? []
    }
    /// The current membership.
    public var confState: ConfState { tracker.confState }
    /// The leader's view of every member, voters and learners, itself included (empty unless leader).
    public var progress: [NodeID: Progress] { tracker.progress }
    /// Whether this node may campaign: a voter, not a learner.
    var isPromotable: Bool { tracker.voters.contains(id) }

    // MARK: The caller's inputs

    /// Advances time by one tick: followers and candidates count towards an election, a
    /// leader towards its next heartbeat and its quorum check.
    public mutating func tick() {
        switch role {
        case .follower, .preCandidate, .candidate: tickElection()
        case .leader: tickHeartbeat()
        }
    }

    /// Handles a message from a peer. Messages for another node, or of a kind that only exists
    /// inside a node, are ignored.
    public mutating func step(_ message: Message) {
        guard message.to == id || message.to == 0, !message.isLocal || message.kind == .unreachable || message.kind == .snapshotStatus else { return }
        _ = stepMessage(message)
    }

    /// Proposes data to be appended to the log; it is committed when a `Ready` lists it.
    public mutating func propose(_ data: [UInt8]) throws(RaftError) {
        if let error = stepMessage(Message(kind: .propose, from: id, entries: [Entry(term: 0, index: 0, data: data)])) {
            throw error
        }
    }

    /// Proposes one membership change; it takes effect when the application, having applied
    /// its entry, calls `applyConfChange(_:)`.
    public mutating func proposeConfChange(_ change: ConfChange) throws(RaftError) {
        let entry = Entry(term: 0, index: 0, kind: .confChange, data: change.encoded)
        if let error = stepMessage(Message(kind: .propose, from: id, entries: [entry])) { throw error }
    }

    /// Asks for a linearizable read: a `ReadState` with this context appears in a later `Ready`
    /// once a quorum has confirmed this node's leadership.
    public mutating func readIndex(context: [UInt8]) {
        _ = stepMessage(Message(kind: .readIndex, from: id, entries: [Entry(term: 0, index: 0, data: context)]))
    }

    /// Asks the leader to hand leadership to `transferee` (thesis §3.10).
    public mutating func transferLeadership(to transferee: NodeID) {
        _ = stepMessage(Message(kind: .transferLeader, to: leader, from: transferee))
    }

    /// Campaigns now, as if the election timeout had run out.
    public mutating func campaign() {
        _ = stepMessage(Message(kind: .hup, from: id))
    }

    /// Tells the leader a peer could not be reached, so it stops pipelining to it.
    public mutating func reportUnreachable(_ peer: NodeID) {
        _ = stepMessage(Message(kind: .unreachable, from: peer))
    }

    /// Tells the leader how sending a snapshot to `peer` ended.
    public mutating func reportSnapshot(to peer: NodeID, failed: Bool) {
        _ = stepMessage(Message(kind: .snapshotStatus, from: peer, reject: failed))
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
        electionElapsed = 0
        heartbeatElapsed = 0
        randomizedElectionTimeout = config.electionTick + Int(random.next() % UInt64(config.electionTick))
        leadTransferee = 0
        tracker.reset(next: log.lastIndex + 1, me: id, persisted: log.persistedIndex)
        pendingConfIndex = 0
        readOnly.reset()
    }

    // MARK: Time

    private mutating func tickElection() {
        electionElapsed += 1
        if isPromotable && electionElapsed >= randomizedElectionTimeout {
            electionElapsed = 0
            _ = stepMessage(Message(kind: .hup, from: id))
        }
    }

    private mutating func tickHeartbeat() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= config.electionTick {
            electionElapsed = 0
            if config.checkQuorum { _ = stepMessage(Message(kind: .checkQuorum, from: id)) }
            // A transfer that did not finish within an election timeout is abandoned.
            if role == .leader { leadTransferee = 0 }
        }
        guard role == .leader else { return }
        if heartbeatElapsed >= config.heartbeatTick {
            heartbeatElapsed = 0
            _ = stepMessage(Message(kind: .beat, from: id))
        }
    }

    // MARK: Sending

    mutating func send(_ message: Message) {
        var message = message
        // A forwarded leadership transfer names its transferee in `from`.
        if message.from == 0 || message.kind != .transferLeader { message.from = id }
        // Vote requests carry the term they campaign for; everything else this node's term.
        // Local proposals forwarded to the leader carry no term.
        if message.term == 0 && message.kind != .propose && message.kind != .readIndex && message.kind != .transferLeader {
            message.term = term
        }
        outbox.append(message)
    }
}

extension RaftNode: Sendable where Storage: Sendable {}

extension RaftNode {
    /// The term of the entry at `index`, or nil if it is compacted away or not in the log.
    public func term(at index: UInt64) -> UInt64? { try? log.term(index) }
}
