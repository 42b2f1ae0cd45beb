import NIOCore
import RaftCore
import SingleNode

/// What clients ask of the replicated machines: proposals, from any member (a follower forwards
/// them to the leader inside Raft), and questions only the leader's machine can answer.
extension RaftServer {
    /// The Raft loop, on which the futures below complete.
    public var eventLoop: any EventLoop { loop }

    /// Proposes `command` for `machine` and returns what applying it gave, once it is applied here.
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
            self.proposer.propose(tag: Machine.tag, payload: payload) { outcome in
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

    /// Asks the leader's `machine` a question only the leader can answer (see
    /// `ReplicatedStateMachine.answerAsLeader`): answered here on the leader, forwarded over the
    /// peer port from a follower.
    public func askLeader<Machine: ReplicatedStateMachine>(_ query: Machine.LeaderQuery, of machine: Machine.Type) async throws -> Machine.LeaderAnswer {
        let answer = try await questions.askLeader([Machine.tag] + Machine.encode(query: query))
        guard let decoded = Machine.decode(answer: answer[...]) else { throw ProposalError.unreadable }
        return decoded
    }

    /// Asks the member at `peerURL` a question its own `machine` answers (see
    /// `ReplicatedStateMachine.answerAsMember`), on a connection of its own to its peer port.
    public func askMember<Machine: ReplicatedStateMachine>(
        _ query: Machine.LeaderQuery, of machine: Machine.Type, at peerURL: String
    ) async throws -> Machine.LeaderAnswer {
        let frame = try await questions.ask(peerURL, .memberQuery([Machine.tag] + Machine.encode(query: query)))
        guard case .memberAnswer(let bytes) = frame, let bytes, let answer = Machine.decode(answer: bytes[...]) else {
            throw ProposalError.unreadable
        }
        return answer
    }

    /// A consistent copy of this member's whole state, that a new cluster can be founded from
    /// (`etcdctl snapshot save`, `etcd snapshot restore`): see `Backup.take(of:)`.
    public func backup() async throws -> Backup {
        try await Backup.take(of: self)
    }
}
