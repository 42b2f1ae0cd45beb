/// The ReadIndex requests a leader holds (etcd-raft's `readOnly`, thesis §6.4): those waiting
/// for a quorum's heartbeat answers to confirm the leader, oldest first, and those that came
/// before this leader committed an entry of its term.
struct ReadOnly: Sendable {
    /// A request waiting for a quorum: served at `index` once confirmed.
    struct PendingRead: Sendable {
        var context: [UInt8]
        var from: NodeID
        var index: UInt64
        var acks: Set<NodeID>
    }

    private(set) var pending: [PendingRead] = []
    /// Until a new leader commits an entry of its term, its commit index may be behind what an
    /// earlier leader committed: requests wait here.
    private(set) var awaitingFirstCommit: [Message] = []

    /// Records a request to confirm at `index`; the leader's own acknowledgement counts.
    mutating func add(context: [UInt8], from requester: NodeID, index: UInt64, leader: NodeID) {
        pending.append(PendingRead(context: context, from: requester, index: index, acks: [leader]))
    }

    mutating func holdUntilFirstCommit(_ message: Message) { awaitingFirstCommit.append(message) }

    /// The requests held for the first commit, handed back to be handled again.
    mutating func takeHeld() -> [Message] {
        defer { awaitingFirstCommit = [] }
        return awaitingFirstCommit
    }

    /// A heartbeat answer from `follower` carrying `context`: once `isQuorum` holds for that
    /// request's acknowledgements, it and every request before it are confirmed and returned.
    mutating func acknowledge(context: [UInt8], from follower: NodeID, isQuorum: (Set<NodeID>) -> Bool) -> ArraySlice<PendingRead> {
        guard let position = pending.firstIndex(where: { $0.context == context }) else { return [] }
        pending[position].acks.insert(follower)
        guard isQuorum(pending[position].acks) else { return [] }
        let confirmed = pending[...position]
        pending.removeFirst(position + 1)
        return confirmed
    }

    /// A change of term: no request held is valid any more.
    mutating func reset() {
        pending = []
        awaitingFirstCommit = []
    }
}
