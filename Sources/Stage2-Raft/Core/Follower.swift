/// A follower's rules (etcd-raft's `stepFollower`): accept the leader's log (Raft §5.3) and
/// forward requests to it.
enum Follower {
    static func step<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) -> RaftError? {
        switch message.kind {
        case .propose, .readIndex, .transferLeader:
            guard r.leader != 0 else { return .proposalDropped }
            var forwarded = message
            forwarded.to = r.leader
            r.send(forwarded)
        case .append, .heartbeat, .snapshot:
            // The leader of this term is alive: no election while it is heard from.
            r.ticks.restartElectionTimeout()
            r.leader = message.from
            handleFromLeader(&r, message)
        case .timeoutNow:
            // The leader is handing over: campaign at once, skipping PreVote and any lease.
            Election.hup(&r, transfer: true)
        case .readIndexResponse:
            r.readStates.append(ReadState(index: message.index, requestContext: message.entries.first?.data ?? []))
        default:
            break
        }
        return nil
    }

    /// An append, a heartbeat or a snapshot from the leader of this term (a candidate that
    /// gives way to the leader takes it here too).
    static func handleFromLeader<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) {
        switch message.kind {
        case .append: handleAppend(&r, message)
        case .heartbeat: handleHeartbeat(&r, message)
        case .snapshot: handleSnapshot(&r, message)
        default: assertionFailure("\(message.kind) does not come from a leader")
        }
    }

    private static func handleAppend<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) {
        if message.index < r.log.committed {
            // Already committed here; tell the leader how far.
            r.send(Message(kind: .appendResponse, to: message.from, index: r.log.committed))
            return
        }
        if let lastNew = r.log.maybeAppend(
            index: message.index, logTerm: message.logTerm, committed: message.commit, entries: message.entries)
        {
            r.send(Message(kind: .appendResponse, to: message.from, index: lastNew))
        } else {
            // Mismatch at message.index: hint the last index whose term is at most the leader's
            // term there, so the leader skips the whole conflicting term (fast backtracking).
            let hint = r.log.findConflictByTerm(min(message.index, r.log.lastIndex), message.logTerm)
            r.send(Message(
                kind: .appendResponse, to: message.from, logTerm: hint.term, index: message.index, reject: true,
                rejectHint: hint.index))
        }
    }

    private static func handleHeartbeat<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) {
        // The leader sends min(our match, its commit), which our log is sure to hold.
        r.log.commit(to: min(message.commit, r.log.lastIndex))
        r.send(Message(kind: .heartbeatResponse, to: message.from, context: message.context))
    }

    private static func handleSnapshot<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) {
        guard let snapshot = message.snapshot else { return }
        if restore(&r, snapshot) {
            r.send(Message(kind: .appendResponse, to: message.from, index: r.log.lastIndex))
        } else {
            r.send(Message(kind: .appendResponse, to: message.from, index: r.log.committed))
        }
    }

    /// Replaces the log with the leader's snapshot, unless the log already has what it holds.
    private static func restore<S: RaftStorage>(_ r: inout Consensus<S>, _ snapshot: Snapshot) -> Bool {
        let meta = snapshot.metadata
        guard meta.index > r.log.committed, r.role == .follower else { return false }
        // A snapshot that leaves this node out of the membership is not for us.
        guard meta.confState.voters.contains(r.id) || meta.confState.learners.contains(r.id) else { return false }
        if r.log.matchTerm(meta.index, meta.term) {
            // The log already contains the snapshot's last entry: just move the commit index.
            r.log.commit(to: meta.index)
            return false
        }
        r.log.restore(snapshot)
        r.tracker.forgetProgress()
        r.applyConfState(meta.confState)
        return true
    }
}
