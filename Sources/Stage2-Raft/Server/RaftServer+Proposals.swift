import BinaryCodec
import NIOCore
import RaftCore
import SingleNode

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
    /// The command could not be encoded, or the entry could not be read back (a newer build's).
    case unreadable
}

/// A caller waiting for its proposal to apply on this member (the proposer), until `deadline`.
extension RaftServer {
    /// The Raft loop, on which the futures below complete.
    public var eventLoop: any EventLoop { loop }

    /// Proposes `command` for `machine`, from any member (a follower forwards it to the leader
    /// inside Raft), and returns what applying it gave, once it is applied here.
    public func propose<Machine: ReplicatedStateMachine>(_ command: Machine.Command, to machine: Machine.Type) async throws -> Machine.Result {
        try await startProposal(command, to: machine).get()
    }

    /// `propose` for callers on an event loop, which wait without a task: the future completes
    /// on the Raft loop, failed with a `ProposalError`.
    public func startProposal<Machine: ReplicatedStateMachine>(_ command: Machine.Command, to machine: Machine.Type) -> EventLoopFuture<Machine.Result> {
        guard let payload = try? Machine.encode(command) else { return loop.makeFailedFuture(ProposalError.unreadable) }
        return startProposal(encoded: payload, to: machine)
    }

    /// `startProposal` for a caller that encoded the command already (to check its size before
    /// the log, say): `payload` must be `Machine.encode(command)`.
    public func startProposal<Machine: ReplicatedStateMachine>(encoded payload: [UInt8], to machine: Machine.Type) -> EventLoopFuture<Machine.Result> {
        let promise = loop.makePromise(of: Machine.Result.self)
        loop.execute {
            guard self.node.leader != 0 else { return promise.fail(ProposalError.noLeader) }
            self.enqueue(tag: Machine.tag, payload: payload) { outcome in
                switch outcome {
                case .success(let result as Machine.Result): promise.succeed(result)
                // Cannot happen: the slot for `Machine.tag` was made from a `Machine`.
                case .success: promise.fail(ProposalError.unreadable)
                case .failure(let error): promise.fail(error)
                }
            }
        }
        return promise.futureResult
    }

    /// Proposes an entry for the machine with `tag`, and waits for it here; on the Raft loop.
    func enqueue(tag: UInt8, payload: [UInt8], finish: @escaping (Result<any Sendable, ProposalError>) -> Void) {
        let requestID = nextRequestID
        nextRequestID += 1
        do {
            try node.propose(Envelope(tag: tag, origin: id, requestID: requestID, payload: payload[...]).encoded())
        } catch {
            return finish(.failure(.noLeader))
        }
        waiters.wait(requestID, until: loop.now + configuration.requestTimeout, finish: finish)
        scheduleReady()
    }

    /// Proposes a command nobody waits for (TTL expiries, publishing this member's URL).
    func proposeUnwaited(_ command: Command) -> Bool {
        let envelope = Envelope(tag: StoreMachine.tag, origin: id, requestID: 0, payload: StoreMachine.encode(command)[...])
        return (try? node.propose(envelope.encoded())) != nil
    }

    /// Asks the leader's `machine` a question only the leader can answer (see
    /// `ReplicatedStateMachine.answerAsLeader`): answered here on the leader, forwarded over the
    /// peer port from a follower.
    public func askLeader<Machine: ReplicatedStateMachine>(_ query: Machine.LeaderQuery, of machine: Machine.Type) async throws -> Machine.LeaderAnswer {
        var bytes = [Machine.tag]
        bytes += Machine.encode(query: query)
        guard let answer = Machine.decode(answer: try await askLeader(bytes)[...]) else { throw ProposalError.unreadable }
        return answer
    }

    /// Asks the member at `peerURL` a question its own `machine` answers (see
    /// `ReplicatedStateMachine.answerAsMember`), on a connection of its own to its peer port.
    public func askMember<Machine: ReplicatedStateMachine>(
        _ query: Machine.LeaderQuery, of machine: Machine.Type, at peerURL: String
    ) async throws -> Machine.LeaderAnswer {
        let frame = try await ask(peerURL, .memberQuery([Machine.tag] + Machine.encode(query: query)))
        guard case .memberAnswer(let bytes) = frame, let bytes, let answer = Machine.decode(answer: bytes[...]) else {
            throw ProposalError.unreadable
        }
        return answer
    }

    /// `query` is the machine's tag, then the machine's own question.
    private func askLeader(_ query: [UInt8]) async throws -> [UInt8] {
        // On the leader: answered here. On a follower: sent over the connection to the leader
        // that Raft messages use, numbered; or, with none up yet, on a connection of its own.
        let outcome = try await loop.submit { () -> (local: [UInt8]??, url: String?, sent: EventLoopFuture<PeerFrame>?) in
            if self.node.role == .leader { return (.some(self.answerAsLeader(query)), nil, nil) }
            guard let url = self.members[self.node.leader]?.peerURL else { return (nil, nil, nil) }
            let queryID = self.nextLeaderQuery
            self.nextLeaderQuery += 1
            guard self.transport.send([.leaderQuery(id: queryID, query: query)], to: url) else { return (nil, url, nil) }
            let answer = self.leaderAnswers.expect(queryID, within: self.configuration.requestTimeout) { ProposalError.timedOut }
            return (nil, url, answer)
        }.get()
        if let local = outcome.local {
            guard let answer = local else { throw ProposalError.noLeader }
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

    /// The answer of the machine `query` names, if this member leads and the machine can answer.
    func answerAsLeader(_ query: [UInt8]) -> [UInt8]? {
        guard node.role == .leader, let tag = query.first, let slot = machines[tag] else { return nil }
        return slot.answer(query.dropFirst())
    }

    /// Fails every proposal this member waits on: when leadership moves (they may still commit
    /// under the next leader, but this member cannot promise it) and when it stops.
    func failProposals(_ error: ProposalError) {
        let failing = waiters.takeAll()
        if !failing.isEmpty, error != .stopped { RaftMetrics.proposalsFailed.increment(by: failing.count) }
        for finish in failing { finish(.failure(error)) }
    }

    /// Fails the proposals waiting longer than the request timeout (checked every tick).
    func expireProposals() {
        guard !waiters.isEmpty else { return }
        let expired = waiters.takeExpired(at: loop.now)
        if !expired.isEmpty { RaftMetrics.proposalsFailed.increment(by: expired.count) }
        for finish in expired { finish(.failure(.timedOut)) }
    }
}
