import BinaryCodec
import NIOCore
import RaftCore
import SingleNode

/// A second state machine fed by the same log as the v1 store: Stage 4's v3 store plugs in
/// here, so Stage 2 replicates it without knowing what it holds. Its entries are applied in log
/// order on the Raft loop, interleaved with the v1 store's (which skips them: v1 indexes stay
/// Raft indexes), and its state travels inside the same snapshots.
public protocol LogStateMachine: AnyObject, Sendable {
    /// Applies one committed payload; the result goes back to the member that proposed it.
    func apply(_ payload: [UInt8], index: UInt64) -> any Sendable
    /// Its whole state, as of the last entry applied.
    func snapshotData() -> [UInt8]
    /// Replaces its state with a snapshot's.
    func restore(from data: [UInt8]) throws
    /// This member became leader (true) or stopped being it (false).
    func leadershipChanged(isLeader: Bool)
    /// Its state as of now, to encode later off the Raft loop (for backups, which must not
    /// hold up writes). By default, encoded now.
    func snapshotSource() -> @Sendable () -> [UInt8]
    /// Answers a question only the leader can (state it keeps without replicating it, such as
    /// lease deadlines); called on the leader, for a query from any member. Nil by default.
    func answerAsLeader(_ query: [UInt8]) -> [UInt8]?
}

extension LogStateMachine {
    public func answerAsLeader(_ query: [UInt8]) -> [UInt8]? { nil }

    public func snapshotSource() -> @Sendable () -> [UInt8] {
        let data = snapshotData()
        return { data }
    }
}

/// Why a proposal or a linearizable read did not complete.
public enum ProposalError: Error, Equatable {
    /// No leader is known (an election is running, or there is no quorum).
    case noLeader
    /// The entry did not apply within the request timeout.
    case timedOut
    /// The leader changed while waiting: the write may or may not have happened.
    case leaderChanged
    /// The server is stopping.
    case stopped
}

extension RaftServer {
    /// The Raft loop, on which the futures below complete.
    public var eventLoop: any EventLoop { loop }

    /// Proposes `payload` for the log state machine, from any member (a follower forwards it to
    /// the leader), and returns what applying it gave, once it is applied here.
    public func propose(_ payload: [UInt8]) async throws -> any Sendable {
        try await startProposal(payload).get()
    }

    /// `propose` for callers on an event loop, which wait without a task: the future completes
    /// on the Raft loop.
    public func startProposal(_ payload: [UInt8]) -> EventLoopFuture<any Sendable> {
        let promise = loop.makePromise(of: (any Sendable).self)
        loop.execute {
            guard self.node.leader != 0 else { return promise.fail(ProposalError.noLeader) }
            let requestID = self.nextRequestID
            self.nextRequestID += 1
            do {
                try self.node.propose(EntryCodec.encodeExtension(origin: self.id, requestID: requestID, payload: payload))
            } catch {
                return promise.fail(ProposalError.noLeader)
            }
            self.extensionPending[requestID] = (promise, .now() + self.configuration.requestTimeout)
            self.scheduleReady()
        }
        return promise.futureResult
    }

    /// Asks the leader's state machine `query` (see `LogStateMachine.answerAsLeader`): answered
    /// here on the leader, forwarded over the peer port from a follower.
    public func askLeader(_ query: [UInt8]) async throws -> [UInt8] {
        // On the leader: answered here. On a follower: sent over the connection to the leader
        // that Raft messages use, numbered; or, with none up yet, on a connection of its own.
        let outcome = try await loop.submit { () -> (local: Bool, url: String?, sent: EventLoopFuture<PeerFrame>?) in
            if self.node.role == .leader { return (true, nil, nil) }
            guard let url = self.members[self.node.leader]?.peerURL else { return (false, nil, nil) }
            let queryID = self.nextLeaderQuery
            self.nextLeaderQuery += 1
            guard self.transport.send([.leaderQuery(id: queryID, query: query)], to: url) else { return (false, url, nil) }
            let promise = self.loop.makePromise(of: PeerFrame.self)
            let timeout = self.loop.scheduleTask(in: self.configuration.requestTimeout) { [weak self] () -> Void in
                self?.leaderQueries.removeValue(forKey: queryID)?.promise.fail(ProposalError.timedOut)
            }
            self.leaderQueries[queryID] = (promise, timeout)
            return (false, url, promise.futureResult)
        }.get()
        if outcome.local {
            guard let answer = configuration.stateMachine?.answerAsLeader(query) else { throw ProposalError.noLeader }
            return answer
        }
        guard let url = outcome.url else { throw ProposalError.noLeader }
        let frame: PeerFrame
        if let sent = outcome.sent { frame = try await sent.get() } else { frame = try await ask(url, .leaderQuery(id: 0, query: query)) }
        guard case .leaderAnswer(_, let answer) = frame else { throw ProposalError.noLeader }
        // It stopped leading between our look and its answer.
        guard let answer else { throw ProposalError.leaderChanged }
        return answer
    }

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
        unconfirmedReadSince = .now()
        scheduleReady()
    }

    /// Asks again for a ReadIndex unconfirmed for half an election timeout: its request or its
    /// answer was lost (a dropped connection, heartbeats that did not arrive), and every read
    /// queued behind it would wait for its timeout. Same context, so whichever answer comes
    /// first confirms it (etcd retries the same way, after 500 ms).
    func retryUnconfirmedRead() {
        guard let context = unconfirmedRead, node.leader != 0 else { return }
        let interval = configuration.heartbeatInterval * Int64(max(configuration.electionTicks / 2, 1))
        guard NIODeadline.now() - unconfirmedReadSince >= interval else { return }
        unconfirmedReadSince = .now()
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

    /// Applies an extension entry and hands the result to the caller waiting on this member.
    func applyExtension(_ entry: Entry) {
        machine.skip(to: entry.index)
        guard let (origin, requestID, payload) = EntryCodec.decodeExtension(entry.data) else {
            logger.error("skipping a malformed entry", metadata: ["index": "\(entry.index)"])
            return
        }
        guard let stateMachine = configuration.stateMachine else {
            logger.error("an entry for the v3 store, and no v3 store in this build", metadata: ["index": "\(entry.index)"])
            return
        }
        let result = stateMachine.apply(payload, index: entry.index)
        if origin == id, let waiter = extensionPending.removeValue(forKey: requestID) {
            waiter.promise.succeed(result)
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

    /// Fails the proposals this member was waiting on when leadership moves: they may still
    /// commit under the next leader, but this member cannot promise it.
    func failExtensionProposals(_ error: ProposalError) {
        if !extensionPending.isEmpty { RaftMetrics.proposalsFailed.increment(by: extensionPending.count) }
        for (_, waiter) in extensionPending {
            waiter.promise.fail(error)
        }
        extensionPending = [:]
    }

    /// Fails the proposals waiting longer than the request timeout (checked every tick).
    func expireProposals() {
        guard !pending.isEmpty || !extensionPending.isEmpty else { return }
        let now = NIODeadline.now()
        for (requestID, waiter) in pending where waiter.deadline <= now {
            pending[requestID] = nil
            RaftMetrics.proposalsFailed.increment()
            waiter.promise.succeed(.completed(.failure(StoreError(.raftInternal, cause: "raft: Command timeout"))))
        }
        for (requestID, waiter) in extensionPending where waiter.deadline <= now {
            extensionPending[requestID] = nil
            RaftMetrics.proposalsFailed.increment()
            waiter.promise.fail(ProposalError.timedOut)
        }
    }
}
