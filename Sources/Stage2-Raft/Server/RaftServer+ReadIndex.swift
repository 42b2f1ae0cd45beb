import NIOCore
import RaftCore

/// Linearizable reads through Raft's ReadIndex (thesis §6.4), batched as etcd's read loop does.
extension RaftServer {
    /// Waits until this member has applied everything committed when the call was made, as
    /// confirmed by a quorum (Raft's ReadIndex): a read after this is linearizable.
    ///
    /// Reads share confirmations, as etcd's read loop does: one ReadIndex is in flight at a
    /// time, and the reads that arrive meanwhile wait for the next, which starts after they
    /// arrived, so it covers every write they could have seen. Sixteen concurrent reads cost
    /// one round of heartbeats rather than sixteen.
    public func linearizableRead() async throws {
        try await startLinearizableRead().get()
    }

    /// `linearizableRead` for callers on an event loop: the future completes on the Raft loop.
    public func startLinearizableRead() -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        loop.execute {
            guard self.node.leader != 0 else { return promise.fail(ProposalError.noLeader) }
            self.reads.enqueue(promise)
            self.issueQueuedReads()
        }
        return promise.futureResult
    }

    /// Starts one ReadIndex for every queued read, unless one is already unconfirmed.
    func issueQueuedReads() {
        guard reads.unconfirmed == nil, !reads.queued.isEmpty else { return }
        guard node.leader != 0 else {
            for promise in reads.takeQueued() { promise.fail(ProposalError.noLeader) }
            return
        }
        guard let context = reads.startNext(at: loop.now) else { return }
        node.readIndex(context: ReadIndexQueue<EventLoopPromise<Void>>.bytes(context))
        readTimeouts[context] = loop.scheduleTask(in: configuration.requestTimeout) { [weak self] () -> Void in
            guard let self else { return }
            self.readTimeouts[context] = nil
            guard let waiters = self.reads.takeTimedOut(context) else { return }
            for promise in waiters { promise.fail(ProposalError.timedOut) }
            self.issueQueuedReads()
        }
        scheduleReady()
    }

    /// Asks again for a ReadIndex unconfirmed for half an election timeout (same context, so
    /// whichever answer comes first confirms it).
    func retryUnconfirmedRead() {
        guard node.leader != 0 else { return }
        let interval = configuration.heartbeatInterval * Int64(max(configuration.electionTicks / 2, 1))
        guard let context = reads.retry(at: loop.now, after: interval) else { return }
        node.readIndex(context: ReadIndexQueue<EventLoopPromise<Void>>.bytes(context))
    }

    /// Matches confirmed reads to their callers; each completes once its index is applied.
    func confirmReads(_ states: [ReadState]) {
        for state in states {
            guard let context = ReadIndexQueue<EventLoopPromise<Void>>.context(state.requestContext) else { continue }
            reads.confirm(context, index: state.index)
        }
        completeReads()
        issueQueuedReads()
    }

    func completeReads() {
        for (context, waiters) in reads.takeApplied(through: machine.appliedIndex) {
            readTimeouts.removeValue(forKey: context)?.cancel()
            for promise in waiters { promise.succeed(()) }
        }
    }

    /// Reads not yet confirmed when leadership moves may never be (the old leader is gone):
    /// their callers hear so now rather than after the timeout.
    func failUnconfirmedReads() {
        for (context, waiters) in reads.takeUnconfirmed() {
            readTimeouts.removeValue(forKey: context)?.cancel()
            for promise in waiters { promise.fail(ProposalError.leaderChanged) }
        }
        // Those waiting for the next ReadIndex start it under the new leader, if there is one.
        issueQueuedReads()
    }
}
