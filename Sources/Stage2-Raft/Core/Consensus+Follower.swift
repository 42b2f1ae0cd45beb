/// Followers: accept the leader's log (Raft §5.3), forward requests to it.
extension Consensus {
    mutating func stepFollower(_ message: Message) -> RaftError? {
        switch message.kind {
        case .propose, .readIndex, .transferLeader:
            guard leader != 0 else { return .proposalDropped }
            var forwarded = message
            forwarded.to = leader
            send(forwarded)
        case .append, .heartbeat, .snapshot:
            // The leader of this term is alive: no election while it is heard from.
            ticks.restartElectionTimeout()
            leader = message.from
            handleFromLeader(message)
        case .timeoutNow:
            // The leader is handing over: campaign at once, skipping PreVote and any lease.
            hup(transfer: true)
        case .readIndexResponse:
            readStates.append(ReadState(index: message.index, requestContext: message.entries.first?.data ?? []))
        default:
            break
        }
        return nil
    }

    /// An append, a heartbeat or a snapshot from the leader of this term.
    mutating func handleFromLeader(_ message: Message) {
        switch message.kind {
        case .append: handleAppend(message)
        case .heartbeat: handleHeartbeat(message)
        case .snapshot: handleSnapshot(message)
        default: assertionFailure("\(message.kind) does not come from a leader")
        }
    }

    private mutating func handleAppend(_ message: Message) {
        if message.index < log.committed {
            // Already committed here; tell the leader how far.
            send(Message(kind: .appendResponse, to: message.from, index: log.committed))
            return
        }
        if let lastNew = log.maybeAppend(
            index: message.index, logTerm: message.logTerm, committed: message.commit, entries: message.entries)
        {
            send(Message(kind: .appendResponse, to: message.from, index: lastNew))
        } else {
            // Mismatch at message.index: hint the last index whose term is at most the leader's
            // term there, so the leader skips the whole conflicting term (fast backtracking).
            let hint = log.findConflictByTerm(min(message.index, log.lastIndex), message.logTerm)
            send(Message(
                kind: .appendResponse, to: message.from, logTerm: hint.term, index: message.index, reject: true,
                rejectHint: hint.index))
        }
    }

    private mutating func handleHeartbeat(_ message: Message) {
        // The leader sends min(our match, its commit), which our log is sure to hold.
        log.commit(to: min(message.commit, log.lastIndex))
        send(Message(kind: .heartbeatResponse, to: message.from, context: message.context))
    }

    private mutating func handleSnapshot(_ message: Message) {
        guard let snapshot = message.snapshot else { return }
        if restore(snapshot) {
            send(Message(kind: .appendResponse, to: message.from, index: log.lastIndex))
        } else {
            send(Message(kind: .appendResponse, to: message.from, index: log.committed))
        }
    }

    /// Replaces the log with the leader's snapshot, unless the log already has what it holds.
    mutating func restore(_ snapshot: Snapshot) -> Bool {
        let meta = snapshot.metadata
        guard meta.index > log.committed, role == .follower else { return false }
        // A snapshot that leaves this node out of the membership is not for us.
        guard meta.confState.voters.contains(id) || meta.confState.learners.contains(id) else { return false }
        if log.matchTerm(meta.index, meta.term) {
            // The log already contains the snapshot's last entry: just move the commit index.
            log.commit(to: meta.index)
            return false
        }
        log.restore(snapshot)
        tracker.forgetProgress()
        applyConfState(meta.confState)
        return true
    }
}
