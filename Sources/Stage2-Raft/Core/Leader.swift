/// A leader's rules (etcd-raft's `stepLeader`): accept proposals, replicate, commit, answer
/// reads, hand leadership over. Its files: this one (what each message does),
/// `Leader+Replication` (what is sent to followers) and `Leader+ReadIndex`.
enum Leader {
    static func step<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) -> RaftError? {
        switch message.kind {
        case .beat:
            broadcastHeartbeat(&r, context: [])
            return nil
        case .checkQuorum:
            // Without word from a quorum for an election timeout, this leader may be on the
            // wrong side of a partition: step down rather than serve stale reads.
            if !r.tracker.isQuorumActive(me: r.id) { r.becomeFollower(term: r.term, leader: 0) }
            r.tracker.markInactive(except: r.id)
            return nil
        case .propose:
            return propose(&r, message)
        case .readIndex:
            handleReadIndex(&r, message)
            return nil
        default:
            break
        }
        guard r.tracker.progress[message.from] != nil else { return nil }
        switch message.kind {
        case .appendResponse:
            handleAppendResponse(&r, message)
        case .heartbeatResponse:
            handleHeartbeatResponse(&r, message)
        case .snapshotStatus:
            r.tracker.progress[message.from]?.snapshotReported(failed: message.reject)
        case .unreachable:
            if r.tracker.progress[message.from]?.state == .replicate { r.tracker.progress[message.from]?.becomeProbe() }
        case .transferLeader:
            handleTransferLeader(&r, to: message.from)
        default:
            break
        }
        return nil
    }

    private static func propose<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) -> RaftError? {
        guard r.tracker.progress[r.id] != nil else { return .proposalDropped }  // removed from the membership
        guard r.leadTransferee == 0 else { return .proposalDropped }
        var entries = message.entries
        for position in entries.indices where entries[position].kind == .confChange {
            // One membership change at a time, and none before this leader's first entry is
            // applied (thesis §4.1 and the fix described in its §4.1.2 errata).
            if r.pendingConfIndex > r.log.applied { return .confChangePending }
            r.pendingConfIndex = r.log.lastIndex + UInt64(position) + 1
            entries[position].kind = .confChange
        }
        r.appendEntries(entries)
        // Sent at the next Ready, together with every other proposal made before it.
        r.hasUnsentProposals = true
        return nil
    }

    /// Moves the commit index to what a quorum of voters has (Raft §5.3), if it is from this
    /// term, and releases the reads that waited for this leader's first commit.
    static func maybeCommit<S: RaftStorage>(_ r: inout Consensus<S>) -> Bool {
        let quorumIndex = r.tracker.committedIndex
        let moved: Bool
        if r.config.faultInjection == .commitPreviousTermByCounting {
            moved = quorumIndex > r.log.committed && quorumIndex != .max && quorumIndex <= r.log.lastIndex
            if moved { r.log.commit(to: quorumIndex) }
        } else {
            moved = r.log.maybeCommit(quorumIndex, term: r.term)
        }
        if moved { releaseReadsAfterFirstCommit(&r) }
        return moved
    }

    private static func handleAppendResponse<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) {
        let follower = message.from
        r.tracker.progress[follower]?.recentActive = true
        guard var state = r.tracker.progress[follower] else { return }
        if message.reject {
            var nextProbe = message.rejectHint
            if message.logTerm > 0 {
                // Skip every entry of ours from a term the follower does not have there.
                nextProbe = r.log.findConflictByTerm(message.rejectHint, message.logTerm).index
            }
            if state.rejected(message.index, hint: nextProbe) {
                r.tracker.progress[follower] = state
                sendAppend(&r, to: follower)
            }
            return
        }
        let wasPaused = state.isPaused
        guard state.accepted(message.index) else { return }
        r.tracker.progress[follower] = state
        if maybeCommit(&r) {
            broadcastAppend(&r)
        } else if wasPaused {
            sendAppend(&r, to: follower)
        }
        // Keep the pipeline full while there is more to send.
        while sendAppend(&r, to: follower, evenIfEmpty: false) {}
        if follower == r.leadTransferee && r.tracker.progress[follower]?.match == r.log.lastIndex {
            r.send(Message(kind: .timeoutNow, to: follower))
        }
    }

    private static func handleHeartbeatResponse<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) {
        let follower = message.from
        if r.tracker.progress[follower]?.heartbeatAnswered(lastIndex: r.log.lastIndex) == true {
            sendAppend(&r, to: follower)
        }
        guard !message.context.isEmpty else { return }
        acknowledgeRead(&r, context: message.context, from: follower)
    }

    /// Leadership transfer (thesis §3.10): bring the transferee's log up to date, then tell it
    /// to campaign at once.
    private static func handleTransferLeader<S: RaftStorage>(_ r: inout Consensus<S>, to transferee: NodeID) {
        guard let target = r.tracker.progress[transferee], !target.isLearner else { return }
        if r.leadTransferee != 0 {
            if r.leadTransferee == transferee { return }
            r.leadTransferee = 0
        }
        guard transferee != r.id else { return }
        // The transfer must finish within an election timeout (see `Consensus.tick`).
        r.ticks.restartElectionTimeout()
        r.leadTransferee = transferee
        if target.match == r.log.lastIndex {
            r.send(Message(kind: .timeoutNow, to: transferee))
        } else {
            sendAppend(&r, to: transferee)
        }
    }
}
