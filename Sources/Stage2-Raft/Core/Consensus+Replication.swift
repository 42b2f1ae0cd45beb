/// Sending the log: appends with flow control, snapshots, heartbeats.
extension Consensus {
    /// Sends `follower` the entries from its `next` (or a snapshot if they are compacted);
    /// returns whether a message went out. With `evenIfEmpty` false, sends only if there are
    /// entries, which keeps a pipeline full without empty appends.
    @discardableResult
    mutating func sendAppend(to follower: NodeID, evenIfEmpty: Bool = true) -> Bool {
        guard var state = tracker.progress[follower], !state.isPaused else { return false }
        let previous = state.next - 1
        let previousTerm = try? log.term(previous)
        let entries = try? log.entries(from: state.next, maxBytes: config.maxSizePerMessage)
        if let entries, entries.isEmpty && !evenIfEmpty { return false }
        guard let previousTerm, let entries else {
            // What the follower needs next is only in the snapshot.
            guard state.recentActive, let snapshot = try? log.snapshot(), snapshot.metadata.index > 0 else { return false }
            state.becomeSnapshot(snapshot.metadata.index)
            tracker.progress[follower] = state
            send(Message(kind: .snapshot, to: follower, snapshot: snapshot))
            return true
        }
        send(Message(
            kind: .append, to: follower, logTerm: previousTerm, index: previous, entries: entries, commit: log.committed))
        if let last = entries.last?.index { state.sentEntries(through: last) }
        tracker.progress[follower] = state
        return true
    }

    mutating func broadcastAppend() {
        for member in tracker.others(than: id) { sendAppend(to: member) }
    }

    mutating func broadcastHeartbeat(context: [UInt8]) {
        for member in tracker.others(than: id) {
            // Never tell a follower to commit past what it is known to hold.
            let commit = min(tracker.progress[member]?.match ?? 0, log.committed)
            send(Message(kind: .heartbeat, to: member, commit: commit, context: context))
        }
    }
}
