/// The Raft consensus algorithm as a pure, deterministic state machine (Ongaro & Ousterhout,
/// "In Search of an Understandable Consensus Algorithm", and Ongaro's thesis), shaped like
/// etcd-io/raft's RawNode: this is the interface a server drives, and `Consensus` holds the
/// rules.
///
/// Nothing here does I/O, reads a clock or starts a thread. The caller drives it:
/// - `tick()` once per tick of its timer;
/// - `step(_:)` for each message from a peer;
/// - `propose(_:)`, `proposeConfChange(_:)`, `readIndex(_:)`, `transferLeadership(to:)` for
///   its own requests;
/// - `ready()` to take what must be done, and `advance(_:)` when it is done (see `Ready`).
public struct RaftNode<Storage: RaftStorage> {
    var raft: Consensus<Storage>
    // What the last Ready reported, to report only changes.
    var reportedHardState: HardState
    var reportedSoftState: (leader: NodeID, role: Role)

    /// Starts a node from what its storage holds: a fresh node has an empty log and the
    /// membership its storage was created with; a restarted one has its hard state and log back.
    public init(config: RaftConfig, storage: Storage) {
        let initial = storage.initialState()
        self.reportedHardState = initial.0
        self.reportedSoftState = (0, .follower)
        self.raft = Consensus(config: config, storage: storage, initialState: initial)
    }

    /// This node's ID.
    public var id: NodeID { raft.id }
    /// The current term (Raft §5.1).
    public var term: UInt64 { raft.term }
    /// Whom this node voted for in `term`, 0 if nobody.
    public var vote: NodeID { raft.vote }
    /// The leader this node follows in `term`, 0 if unknown.
    public var leader: NodeID { raft.leader }
    /// This node's role.
    public var role: Role { raft.role }
    /// The hard state as it stands now.
    public var hardState: HardState { raft.hardState }
    /// The highest index known committed.
    public var commitIndex: UInt64 { raft.log.committed }
    /// The highest index the application reported applied.
    public var appliedIndex: UInt64 { raft.log.applied }
    /// The last index in the log.
    public var lastIndex: UInt64 { raft.log.lastIndex }
    /// The current membership.
    public var confState: ConfState { raft.tracker.confState }
    /// The leader's view of every member, voters and learners, itself included (empty unless leader).
    public var progress: [NodeID: Progress] { raft.tracker.progress }
    /// The term of the entry at `index`, or nil if it is compacted away or not in the log.
    public func term(at index: UInt64) -> UInt64? { try? raft.log.term(index) }

    /// The last `count` entries of the log (fewer if the log is shorter or compacted below
    /// them): what a live view of the cluster shows of each member's tail.
    public func logTail(_ count: Int) -> [Entry] {
        let log = raft.log
        let last = log.lastIndex
        guard last > 0, count > 0 else { return [] }
        let low = max(log.firstIndex, last >= UInt64(count) ? last - UInt64(count) + 1 : 1)
        return (try? log.slice(low, last + 1)) ?? []
    }

    /// Lets the shell see and change the storage the core reads (it persists each `Ready` there).
    public var storage: Storage {
        get { raft.log.storage }
        _modify { yield &raft.log.storage }
    }

    // MARK: The caller's inputs, each a message to `Consensus.stepMessage`

    /// Advances time by one tick: followers and candidates count towards an election, a
    /// leader towards its next heartbeat and its quorum check.
    public mutating func tick() { raft.tick() }

    /// Handles a message from a peer. Messages for another node, or of a kind that only exists
    /// inside a node, are ignored.
    public mutating func step(_ message: Message) {
        guard message.to == id || message.to == 0, !message.isLocal || message.kind == .unreachable || message.kind == .snapshotStatus else { return }
        _ = raft.stepMessage(message)
    }

    /// Proposes data to be appended to the log; it is committed when a `Ready` lists it.
    public mutating func propose(_ data: [UInt8]) throws(RaftError) {
        if let error = raft.stepMessage(Message(kind: .propose, from: id, entries: [Entry(term: 0, index: 0, data: data)])) {
            throw error
        }
    }

    /// Proposes one membership change; it takes effect when the application, having applied
    /// its entry, calls `applyConfChange(_:)`.
    public mutating func proposeConfChange(_ change: ConfChange) throws(RaftError) {
        let entry = Entry(term: 0, index: 0, kind: .confChange, data: change.encoded)
        if let error = raft.stepMessage(Message(kind: .propose, from: id, entries: [entry])) { throw error }
    }

    /// Applies a committed membership change and returns the new membership. Call it when the
    /// change's entry is applied, in log order.
    ///
    /// A member added behind a compacted log catches up from a snapshot, and a node refuses a
    /// snapshot whose membership does not name it (as etcd-io/raft does). So after adding a
    /// member, a shell whose log is compacted takes a fresh snapshot at this entry.
    @discardableResult
    public mutating func applyConfChange(_ change: ConfChange) -> ConfState { raft.applyConfChange(change) }

    /// Asks for a linearizable read: a `ReadState` with this context appears in a later `Ready`
    /// once a quorum has confirmed this node's leadership.
    public mutating func readIndex(context: [UInt8]) {
        _ = raft.stepMessage(Message(kind: .readIndex, from: id, entries: [Entry(term: 0, index: 0, data: context)]))
    }

    /// Asks the leader to hand leadership to `transferee` (thesis §3.10).
    public mutating func transferLeadership(to transferee: NodeID) {
        _ = raft.stepMessage(Message(kind: .transferLeader, to: leader, from: transferee))
    }

    /// Campaigns now, as if the election timeout had run out.
    public mutating func campaign() {
        _ = raft.stepMessage(Message(kind: .hup, from: id))
    }

    /// Tells the leader a peer could not be reached, so it stops pipelining to it.
    public mutating func reportUnreachable(_ peer: NodeID) {
        _ = raft.stepMessage(Message(kind: .unreachable, from: peer))
    }

    /// Tells the leader how sending a snapshot to `peer` ended.
    public mutating func reportSnapshot(to peer: NodeID, failed: Bool) {
        _ = raft.stepMessage(Message(kind: .snapshotStatus, from: peer, reject: failed))
    }
}

extension RaftNode: Sendable where Storage: Sendable {}
