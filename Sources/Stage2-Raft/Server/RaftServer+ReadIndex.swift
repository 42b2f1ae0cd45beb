import BinaryCodec
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
            self.queuedReads.append(promise)
            self.issueQueuedReads()
        }
        return promise.futureResult
    }

    /// Starts one ReadIndex for every queued read, unless one is already in flight.
    func issueQueuedReads() {
        guard unconfirmedRead == nil, !queuedReads.isEmpty else { return }
        guard node.leader != 0 else {
            for promise in queuedReads { promise.fail(ProposalError.noLeader) }
            queuedReads = []
            return
        }
        let context = nextReadContext
        nextReadContext += 1
        let batch = loop.makePromise(of: Void.self)
        for promise in queuedReads { batch.futureResult.cascade(to: promise) }
        queuedReads = []
        var writer = ByteWriter()
        writer.u64(context)
        node.readIndex(context: writer.bytes)
        let timeout = loop.scheduleTask(in: configuration.requestTimeout) { [weak self] () -> Void in
            guard let self, let waiter = self.readWaiters.removeValue(forKey: context) else { return }
            waiter.promise.fail(ProposalError.timedOut)
            if self.unconfirmedRead == context { self.unconfirmedRead = nil }
            self.issueQueuedReads()
        }
        readWaiters[context] = (batch, timeout, nil)
        unconfirmedRead = context
        unconfirmedReadSince = loop.now
        scheduleReady()
    }

    /// Asks again for a ReadIndex unconfirmed for half an election timeout: its request or its
    /// answer was lost (a dropped connection, heartbeats that did not arrive), and every read
    /// queued behind it would wait for its timeout. Same context, so whichever answer comes
    /// first confirms it (etcd retries the same way, after 500 ms).
    func retryUnconfirmedRead() {
        guard let context = unconfirmedRead, node.leader != 0 else { return }
        let interval = configuration.heartbeatInterval * Int64(max(configuration.electionTicks / 2, 1))
        guard loop.now - unconfirmedReadSince >= interval else { return }
        unconfirmedReadSince = loop.now
        var writer = ByteWriter()
        writer.u64(context)
        node.readIndex(context: writer.bytes)
    }

    /// Matches confirmed reads to their callers; each completes once its index is applied.
    func confirmReads(_ states: [ReadState]) {
        for state in states {
            var reader = ByteReader(state.requestContext[...])
            guard let context = reader.u64() else { continue }
            // Confirmed, even if its callers already gave up: the next ReadIndex may start.
            if unconfirmedRead == context { unconfirmedRead = nil }
            readWaiters[context]?.index = state.index
        }
        completeReads()
        issueQueuedReads()
    }

    func completeReads() {
        let applied = machine.appliedIndex
        for (context, waiter) in readWaiters {
            guard let index = waiter.index, index <= applied else { continue }
            readWaiters[context] = nil
            waiter.timeout.cancel()
            waiter.promise.succeed(())
        }
    }

    /// Reads not yet confirmed when leadership moves may never be (the old leader is gone):
    /// their callers hear so now rather than after the timeout.
    func failUnconfirmedReads() {
        for (context, waiter) in readWaiters where waiter.index == nil {
            readWaiters[context] = nil
            waiter.timeout.cancel()
            waiter.promise.fail(ProposalError.leaderChanged)
        }
        unconfirmedRead = nil
        // Those waiting for the next ReadIndex start it under the new leader, if there is one.
        issueQueuedReads()
    }
}
