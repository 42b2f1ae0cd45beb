import EtcdAPI
import GRPCCore
import Raft

/// What the v3 services share: the Raft member (to propose writes and confirm reads) and the
/// store it feeds. Turns the layers' errors into etcd's gRPC errors.
public struct V3Backend: Sendable {
    public let raft: RaftServer
    public let machine: V3StateMachine

    public init(raft: RaftServer, machine: V3StateMachine) {
        self.raft = raft
        self.machine = machine
    }

    /// A response header as etcd fills it: this cluster and member, the store's revision, the
    /// Raft term.
    func header(revision: Int64) -> Etcdserverpb_ResponseHeader {
        let status = raft.status
        var header = Etcdserverpb_ResponseHeader()
        header.clusterID = status.clusterID
        header.memberID = status.memberID
        header.revision = revision
        header.raftTerm = status.term
        return header
    }

    /// etcd's --max-request-bytes default: a larger write is refused before it reaches the log.
    public static let maxRequestBytes = 1_572_864

    /// Proposes a write through the log and returns what applying it gave.
    func write(_ request: V3Request) async throws -> MVCCStore.Applied {
        let payload: [UInt8]
        do { payload = try request.encoded() } catch { throw RPCError(code: .invalidArgument, message: "\(error)") }
        guard payload.count <= Self.maxRequestBytes else { throw Self.rpcError(V3Error.requestTooLarge) }
        let result: any Sendable
        do {
            result = try await raft.propose(payload)
        } catch let error as ProposalError {
            throw Self.rpcError(error)
        }
        guard let outcome = result as? Result<MVCCStore.Applied, V3Error> else {
            throw RPCError(code: .internalError, message: "etcdserver: unexpected apply result")
        }
        switch outcome {
        case .success(let applied): return applied
        case .failure(let error): throw Self.rpcError(error)
        }
    }

    /// Waits until a read here would be linearizable.
    func confirmLinearizable() async throws {
        do {
            try await raft.linearizableRead()
        } catch let error as ProposalError {
            throw Self.rpcError(error)
        }
    }

    static func rpcError(_ error: ProposalError) -> RPCError {
        switch error {
        case .noLeader: rpcError(V3Error.noLeader)
        case .timedOut: rpcError(V3Error.timeout)
        case .leaderChanged: rpcError(V3Error.leaderChanged)
        case .stopped: rpcError(V3Error.stopped)
        }
    }

    static func rpcError(_ error: V3Error) -> RPCError {
        let code: RPCError.Code =
            switch error.code {
            case .invalidArgument: .invalidArgument
            case .outOfRange: .outOfRange
            case .notFound: .notFound
            case .failedPrecondition: .failedPrecondition
            case .unavailable: .unavailable
            case .resourceExhausted: .resourceExhausted
            case .canceled: .cancelled
            case .unimplemented: .unimplemented
            }
        return RPCError(code: code, message: error.message)
    }
}
