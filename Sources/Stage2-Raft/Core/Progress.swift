/// The leader's view of one follower: how much of the log it has, and how to send it more.
///
/// Flow control has three states (as in etcd-io/raft):
/// - `probe`: the leader does not know where the follower's log matches; it sends one append
///   per heartbeat interval and waits for the answer.
/// - `replicate`: the follower is caught up to `match`; appends are pipelined optimistically,
///   at most `Inflights.capacity` unacknowledged at a time.
/// - `snapshot`: the follower needs a snapshot; nothing else is sent until it is applied.
public struct Progress: Sendable, Hashable {
    /// How the leader sends to this follower (see above).
    public enum State: Sendable, Hashable { case probe, replicate, snapshot }

    /// The highest index known to be replicated on the follower.
    public internal(set) var match: UInt64 = 0
    /// The next index to send; match < next always.
    public internal(set) var next: UInt64
    /// The flow-control state.
    public internal(set) var state = State.probe
    // In `snapshot`: the index of the snapshot being sent.
    var pendingSnapshot: UInt64 = 0
    // Whether the follower answered since the last CheckQuorum.
    var recentActive = false
    // In `probe`: an append is out and unanswered.
    var isProbeSent = false
    var inflights: Inflights
    /// Appends sent and not yet acknowledged (the window `replicate` pipelines within).
    public var inflightCount: Int { inflights.count }
    /// Whether the follower is a learner (replicated to, never counted in a quorum).
    public internal(set) var isLearner: Bool

    init(next: UInt64, maxInflight: Int, isLearner: Bool) {
        self.next = next
        self.inflights = Inflights(capacity: maxInflight)
        self.isLearner = isLearner
    }

    /// Whether the leader should hold further appends back.
    var isPaused: Bool {
        switch state {
        case .probe: isProbeSent
        case .replicate: inflights.isFull
        case .snapshot: true
        }
    }

    private mutating func reset(to state: State) {
        isProbeSent = false
        pendingSnapshot = 0
        self.state = state
        inflights.reset()
    }

    mutating func becomeProbe() {
        // After a snapshot, the follower has at least the snapshot's index.
        let floor = state == .snapshot ? max(match + 1, pendingSnapshot + 1) : match + 1
        reset(to: .probe)
        next = floor
    }

    mutating func becomeReplicate() {
        reset(to: .replicate)
        next = match + 1
    }

    mutating func becomeSnapshot(_ index: UInt64) {
        reset(to: .snapshot)
        pendingSnapshot = index
    }

    /// Records an acknowledgement up to `index`; returns whether `match` moved.
    mutating func maybeUpdate(_ index: UInt64) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            isProbeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// Handles a rejection of the append at `rejected`, moving `next` back towards `hint`;
    /// returns false if the rejection is stale.
    mutating func maybeDecrease(rejected: UInt64, hint: UInt64) -> Bool {
        if state == .replicate {
            // Appends are pipelined: only a rejection above `match` means anything.
            if rejected <= match { return false }
            next = match + 1
            return true
        }
        // In probe, only the answer to the latest probe counts.
        if next - 1 != rejected { return false }
        next = max(min(rejected, hint + 1), match + 1)
        isProbeSent = false
        return true
    }

    // MARK: What the leader sends, and what it hears back (etcd's progress.go and stepLeader)

    /// An append ending at `last` went out (etcd's UpdateOnEntriesSend): in `replicate` the
    /// next batch may follow at once, optimistically; in `probe` the leader waits for the answer.
    mutating func sentEntries(through last: UInt64) {
        switch state {
        case .replicate:
            next = last + 1
            inflights.add(last)
        case .probe:
            isProbeSent = true
        case .snapshot:
            preconditionFailure("sending entries to a follower waiting for a snapshot")
        }
    }

    /// The follower accepted entries through `index`; returns whether `match` moved. A probe
    /// answered starts the pipeline, and so does a snapshot the follower has applied.
    mutating func accepted(_ index: UInt64) -> Bool {
        guard maybeUpdate(index) else { return false }
        switch state {
        case .probe:
            becomeReplicate()
        case .snapshot where match >= pendingSnapshot:
            becomeProbe()
            becomeReplicate()
        case .replicate:
            inflights.freeLE(index)
        case .snapshot:
            break
        }
        return true
    }

    /// The follower rejected the append at `rejected`: `next` moves back towards `hint`, and a
    /// pipeline falls back to probing. Returns false if the rejection is stale.
    mutating func rejected(_ rejected: UInt64, hint: UInt64) -> Bool {
        guard maybeDecrease(rejected: rejected, hint: hint) else { return false }
        if state == .replicate { becomeProbe() }
        return true
    }

    /// A heartbeat answered: the follower is alive, and may be probed again. Returns whether
    /// the leader should send it an append (it is behind the leader's `lastIndex`, or not
    /// pipelining). If every pipelined append was lost (a full window, no answers) or a
    /// snapshot never arrived, nothing else would resend: it falls back to probing from what it
    /// is known to have.
    mutating func heartbeatAnswered(lastIndex: UInt64) -> Bool {
        recentActive = true
        isProbeSent = false
        guard match < lastIndex || state != .replicate else { return false }
        if (state == .replicate && inflights.isFull) || state == .snapshot { becomeProbe() }
        return true
    }

    /// The shell says how sending a snapshot ended: the leader probes from after it (from after
    /// `match` if it failed), waiting for the follower's answer or a heartbeat first.
    mutating func snapshotReported(failed: Bool) {
        guard state == .snapshot else { return }
        if failed { pendingSnapshot = 0 }
        becomeProbe()
        isProbeSent = true
    }
}

/// The last indexes of the appends in flight to one follower, oldest first, at most `capacity`.
struct Inflights: Sendable, Hashable {
    let capacity: Int
    private var buffer: [UInt64] = []

    init(capacity: Int) { self.capacity = capacity }

    var isFull: Bool { buffer.count >= capacity }
    var count: Int { buffer.count }

    mutating func add(_ index: UInt64) { buffer.append(index) }

    /// Frees every append whose last index is at or below `index` (acknowledged).
    mutating func freeLE(_ index: UInt64) {
        let freed = buffer.prefix { $0 <= index }.count
        if freed > 0 { buffer.removeFirst(freed) }
    }

    mutating func reset() { buffer.removeAll(keepingCapacity: true) }
}
