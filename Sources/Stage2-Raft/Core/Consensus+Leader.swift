/// The leader: accepts proposals, replicates, commits, answers reads, hands over leadership.
extension Consensus {
    mutating func stepLeader(_ message: Message) -> RaftError? {
        switch message.kind {
        case .beat:
            broadcastHeartbeat(context: [])
            return nil
        case .checkQuorum:
            // Without word from a quorum for an election timeout, this leader may be on the
            // wrong side of a partition: step down rather than serve stale reads.
            if !tracker.isQuorumActive(me: id) { becomeFollower(term: term, leader: 0) }
            tracker.markInactive(except: id)
            return nil
        case .propose:
            return propose(message)
        case .readIndex:
            handleReadIndex(message)
            return nil
        default:
            break
        }
        guard tracker.progress[message.from] != nil else { return nil }
        switch message.kind {
        case .appendResponse:
            handleAppendResponse(message)
        case .heartbeatResponse:
            handleHeartbeatResponse(message)
        case .snapshotStatus:
            tracker.progress[message.from]?.snapshotReported(failed: message.reject)
        case .unreachable:
            if tracker.progress[message.from]?.state == .replicate { tracker.progress[message.from]?.becomeProbe() }
        case .transferLeader:
            handleTransferLeader(to: message.from)
        default:
            break
        }
        return nil
    }

    private mutating func propose(_ message: Message) -> RaftError? {
        guard tracker.progress[id] != nil else { return .proposalDropped }  // removed from the membership
        guard leadTransferee == 0 else { return .proposalDropped }
        var entries = message.entries
        for position in entries.indices where entries[position].kind == .confChange {
            // One membership change at a time, and none before this leader's first entry is
            // applied (thesis §4.1 and the fix described in its §4.1.2 errata).
            if pendingConfIndex > log.applied { return .confChangePending }
            pendingConfIndex = log.lastIndex + UInt64(position) + 1
            entries[position].kind = .confChange
        }
        appendEntries(entries)
        // Sent at the next Ready, together with every other proposal made before it.
        hasUnsentProposals = true
        return nil
    }

    /// Appends entries of the current term to the leader's own log and counts itself.
    mutating func appendEntries(_ entries: [Entry]) {
        var last = log.lastIndex
        let stamped = entries.map { entry -> Entry in
            last += 1
            return Entry(term: term, index: last, kind: entry.kind, data: entry.data)
        }
        log.append(stamped)
        // The leader's own copy counts towards a quorum only once it is on disk (`advance`):
        // that lets the shell send these entries to followers while it writes them (thesis
        // §10.2.1) without ever committing an entry a majority has not persisted.
    }

    /// Moves the commit index to what a quorum of voters has (Raft §5.3), if it is from this term.
    mutating func maybeCommit() -> Bool {
        let quorumIndex = tracker.committedIndex
        if config.faultInjection == .commitPreviousTermByCounting {
            guard quorumIndex > log.committed, quorumIndex != .max, quorumIndex <= log.lastIndex else { return false }
            log.commit(to: quorumIndex)
            return true
        }
        return log.maybeCommit(quorumIndex, term: term)
    }

    private mutating func handleAppendResponse(_ message: Message) {
        let follower = message.from
        tracker.progress[follower]?.recentActive = true
        guard var state = tracker.progress[follower] else { return }
        if message.reject {
            var nextProbe = message.rejectHint
            if message.logTerm > 0 {
                // Skip every entry of ours from a term the follower does not have there.
                nextProbe = log.findConflictByTerm(message.rejectHint, message.logTerm).index
            }
            if state.rejected(message.index, hint: nextProbe) {
                tracker.progress[follower] = state
                sendAppend(to: follower)
            }
            return
        }
        let wasPaused = state.isPaused
        guard state.accepted(message.index) else { return }
        tracker.progress[follower] = state
        if maybeCommit() {
            releaseReadsAfterFirstCommit()
            broadcastAppend()
        } else if wasPaused {
            sendAppend(to: follower)
        }
        // Keep the pipeline full while there is more to send.
        while sendAppend(to: follower, evenIfEmpty: false) {}
        if follower == leadTransferee && tracker.progress[follower]?.match == log.lastIndex {
            send(Message(kind: .timeoutNow, to: follower))
        }
    }

    private mutating func handleHeartbeatResponse(_ message: Message) {
        let follower = message.from
        if tracker.progress[follower]?.heartbeatAnswered(lastIndex: log.lastIndex) == true { sendAppend(to: follower) }
        guard !message.context.isEmpty else { return }
        acknowledgeRead(context: message.context, from: follower)
    }

    private mutating func handleTransferLeader(to transferee: NodeID) {
        guard let target = tracker.progress[transferee], !target.isLearner else { return }
        if leadTransferee != 0 {
            if leadTransferee == transferee { return }
            leadTransferee = 0
        }
        guard transferee != id else { return }
        // The transfer must finish within an election timeout (see `tick`).
        ticks.restartElectionTimeout()
        leadTransferee = transferee
        if target.match == log.lastIndex {
            send(Message(kind: .timeoutNow, to: transferee))
        } else {
            sendAppend(to: transferee)
        }
    }
}
