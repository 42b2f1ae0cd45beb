/// What a node needs done, taken with `ready()` and handed back with `advance(_:)`.
///
/// The contract, in this order:
/// 1. **Persist** `hardState` (if set), `entries` and `snapshot` (if set) to stable storage,
///    with one sync for all of them. Nothing below may happen before this is durable: a vote
///    or an acknowledgement sent before it could be forgotten by a crash (Raft Figure 2,
///    "respond to RPCs only after updating stable storage"). The one exception: when
///    `canSendBeforePersisting` is true (a leader), step 2 may come first.
/// 2. **Send** `messages`.
/// 3. **Apply** `snapshot`, then `committedEntries`, to the state machine, in order; call
///    `applyConfChange` for each configuration change entry as it is applied.
/// 4. **Advance**: call `advance(_:)` with this value.
///
/// Everything that accumulated since the last `Ready` comes in one, so a batch of proposals is
/// persisted with one sync and sent in one message per follower.
public struct Ready: Sendable {
    /// The leader and role, if either changed since the last `Ready`.
    public var softState: (leader: NodeID, role: Role)?
    /// The hard state to persist, if it changed.
    public var hardState: HardState?
    /// Entries to append to stable storage (they may replace a conflicting suffix).
    public var entries: [Entry]
    /// A snapshot from the leader to persist and apply, if one arrived.
    public var snapshot: Snapshot?
    /// Entries now committed, to apply in order.
    public var committedEntries: [Entry]
    /// Messages to send once the above is persisted.
    public var messages: [Message]
    /// Linearizable reads now confirmed: serve each once `index` is applied.
    public var readStates: [ReadState]

    /// Whether `messages` may be sent before step 1 completes, in parallel with the write: true
    /// only for a leader whose term and vote are already on disk. Its messages then carry only
    /// entries and a commit index that a majority has persisted, so sending first is safe
    /// (Raft thesis §10.2.1); everything else must wait for the sync.
    public var canSendBeforePersisting: Bool

    /// Whether the persisted state changed in a way that needs a sync before sending.
    public var mustSync: Bool { hardState != nil || !entries.isEmpty || snapshot != nil }

    /// Whether there is nothing to do.
    public var isEmpty: Bool {
        softState == nil && hardState == nil && entries.isEmpty && snapshot == nil && committedEntries.isEmpty
            && messages.isEmpty && readStates.isEmpty
    }
}

extension RaftNode {
    /// Whether `ready()` would return anything.
    public var hasReady: Bool {
        raft.hasUnsentProposals || raft.hasUnsentCommit || !raft.outbox.isEmpty || !raft.log.unstable.isEmpty
            || raft.log.unstableSnapshot != nil || !raft.readStates.isEmpty
            || hardState != reportedHardState || reportedSoftState != (leader, role)
            || raft.log.hasNextCommittedEntries
    }

    /// Takes everything the caller must do now (see `Ready` for the order).
    public mutating func ready() -> Ready {
        Leader.sendUnsentAppends(&raft)
        let committed = raft.log.nextCommittedEntries(maxBytes: raft.config.maxSizePerMessage * 4)
        let termAndVoteOnDisk = hardState.term == reportedHardState.term && hardState.vote == reportedHardState.vote
        let ready = Ready(
            softState: reportedSoftState != (leader, role) ? (leader, role) : nil,
            hardState: hardState != reportedHardState ? hardState : nil,
            entries: raft.log.unstable,
            snapshot: raft.log.unstableSnapshot,
            committedEntries: committed,
            messages: raft.outbox,
            readStates: raft.readStates,
            canSendBeforePersisting: role == .leader && termAndVoteOnDisk && raft.log.unstableSnapshot == nil)
        raft.outbox = []
        raft.readStates = []
        reportedSoftState = (leader, role)
        reportedHardState = hardState
        if let last = committed.last { raft.log.acceptApplying(last.index) }
        return ready
    }

    /// Reports that a `Ready` was persisted, sent and applied.
    public mutating func advance(_ ready: Ready) {
        if let snapshot = ready.snapshot {
            raft.log.stableSnapshot(to: snapshot.metadata.index)
            raft.log.appliedTo(snapshot.metadata.index)
        }
        if let last = ready.entries.last { raft.persisted(last) }
        if let last = ready.committedEntries.last { raft.log.appliedTo(last.index) }
    }
}

extension Consensus {
    /// The entries up to `last` are on disk. The leader's own copy now counts: this may commit
    /// what followers already have.
    mutating func persisted(_ last: Entry) {
        log.stableTo(index: last.index, term: last.term)
        if role == .leader, tracker.progress[id]?.maybeUpdate(log.persistedIndex) == true, Leader.maybeCommit(&self) {
            hasUnsentCommit = true
        }
    }
}
