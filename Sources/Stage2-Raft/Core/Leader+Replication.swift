/// What a leader sends its followers: appends with flow control, snapshots, heartbeats.
extension Leader {
    /// Sends `follower` the entries from its `next` (or a snapshot if they are compacted);
    /// returns whether a message went out. With `evenIfEmpty` false, sends only if there are
    /// entries, which keeps a pipeline full without empty appends.
    @discardableResult
    static func sendAppend<S: RaftStorage>(_ r: inout Consensus<S>, to follower: NodeID, evenIfEmpty: Bool = true) -> Bool {
        guard var state = r.tracker.progress[follower], !state.isPaused else { return false }
        let previous = state.next - 1
        let previousTerm = try? r.log.term(previous)
        let entries = try? r.log.entries(from: state.next, maxBytes: r.config.maxSizePerMessage)
        if let entries, entries.isEmpty && !evenIfEmpty { return false }
        guard let previousTerm, let entries else {
            // What the follower needs next is only in the snapshot.
            guard state.recentActive, let snapshot = try? r.log.snapshot(), snapshot.metadata.index > 0 else {
                return false
            }
            state.becomeSnapshot(snapshot.metadata.index)
            r.tracker.progress[follower] = state
            r.send(Message(kind: .snapshot, to: follower, snapshot: snapshot))
            return true
        }
        r.send(Message(
            kind: .append, to: follower, logTerm: previousTerm, index: previous, entries: entries,
            commit: r.log.committed))
        if let last = entries.last?.index { state.sentEntries(through: last) }
        r.tracker.progress[follower] = state
        return true
    }

    static func broadcastAppend<S: RaftStorage>(_ r: inout Consensus<S>) {
        for member in r.tracker.others(than: r.id) { sendAppend(&r, to: member) }
    }

    static func broadcastHeartbeat<S: RaftStorage>(_ r: inout Consensus<S>, context: [UInt8]) {
        for member in r.tracker.others(than: r.id) {
            // Never tell a follower to commit past what it is known to hold.
            let commit = min(r.tracker.progress[member]?.match ?? 0, r.log.committed)
            r.send(Message(kind: .heartbeat, to: member, commit: commit, context: context))
        }
    }

    /// Sends what accumulated since the last Ready (`RaftNode.ready`): proposals, in one append
    /// per follower, and a new commit index alone in one (perhaps empty) append.
    static func sendUnsentAppends<S: RaftStorage>(_ r: inout Consensus<S>) {
        guard r.hasUnsentProposals || r.hasUnsentCommit else { return }
        let commitOnly = !r.hasUnsentProposals
        r.hasUnsentProposals = false
        r.hasUnsentCommit = false
        guard r.role == .leader else { return }
        for member in r.tracker.others(than: r.id) {
            if !sendAppend(&r, to: member, evenIfEmpty: false) && commitOnly { sendAppend(&r, to: member) }
            while sendAppend(&r, to: member, evenIfEmpty: false) {}
        }
    }
}
