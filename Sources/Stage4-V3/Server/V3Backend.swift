import BinaryCodec
import Foundation
import EtcdAPI
import GRPCCore
import NIOCore
import Raft

/// What the v3 services share: the Raft member (to propose writes and confirm reads) and the
/// store it feeds. Turns the layers' errors into etcd's gRPC errors.
public struct V3Backend: Sendable {
    public let raft: RaftServer
    public let machine: V3StateMachine
    /// How often a watcher that asked for progress notifications and got no event since the
    /// last one is told the store's revision (etcd's --experimental-watch-progress-notify-interval).
    public var progressNotifyInterval: Duration = .seconds(600)

    public init(raft: RaftServer, machine: V3StateMachine) {
        self.raft = raft
        self.machine = machine
    }

    /// A response header as etcd fills it: this cluster and member, the store's revision, the
    /// Raft term.
    func header(revision: Int64) -> Etcdserverpb_ResponseHeader {
        let identity = raft.identity
        var header = Etcdserverpb_ResponseHeader()
        header.clusterID = identity.clusterID
        header.memberID = identity.memberID
        header.revision = revision
        header.raftTerm = identity.term
        return header
    }

    /// `--client-cert-auth`: a call without a token is its client certificate's Common Name.
    public var clientCertAuth = false
    /// `--bcrypt-cost`: the work factor of new password hashes.
    public var bcryptCost = Passwords.defaultCost

    /// `--max-request-bytes` (etcd's default, 1.5 MiB): a larger write is refused before it
    /// reaches the log, and watch responses are split at this size.
    public var maxRequestBytes = 1_572_864
    /// `--max-txn-ops` (etcd's default): more compares, or more operations in either branch, of
    /// one transaction (or of any transaction nested in it) are refused before the log, as
    /// etcd's API layer does. Checked here, not when applying, so that members may differ.
    public var maxTxnOps = 128
    /// `--max-concurrent-streams`: HTTP/2 streams per client connection; nil is no limit.
    public var maxConcurrentStreams: Int?
    /// `--grpc-keepalive-min-time`, `-interval`, `-timeout` (etcd's defaults: 5 s, 2 h, 20 s).
    public var keepaliveMinTime: Duration = .seconds(5)
    public var keepaliveInterval: Duration = .seconds(7200)
    public var keepaliveTimeout: Duration = .seconds(20)

    var keepalive: KeepalivePolicy.Settings {
        KeepalivePolicy.Settings(minTime: .init(keepaliveMinTime), interval: .init(keepaliveInterval), timeout: .init(keepaliveTimeout))
    }

    /// Who a write is proposed for: the server itself (a lease's expiry, an alarm,
    /// auto-compaction), or a client, whose permissions the store checks as it applies it.
    enum Origin {
        case server
        case client(AuthInfo?)
    }

    /// Proposes a write through the log and returns what applying it gave.
    func write(_ request: V3Request, from origin: Origin) async throws -> V3Applier.Applied {
        try await startWrite(request, from: origin).get()
    }

    /// `write` without a task: the future completes on the Raft loop, failed with an `RPCError`.
    func startWrite(_ request: V3Request, from origin: Origin) -> EventLoopFuture<V3Applier.Applied> {
        let payload: [UInt8]
        do {
            switch origin {
            case .server: payload = try request.encoded()
            // Always named, even with auth off: it may be on by the time this applies.
            case .client(let caller): payload = try V3Request.asUser(caller ?? .nobody, request).encoded()
            }
        } catch {
            return raft.eventLoop.makeFailedFuture(RPCError(code: .invalidArgument, message: "\(error)"))
        }
        guard payload.count <= maxRequestBytes else { return raft.eventLoop.makeFailedFuture(Self.rpcError(V3Error.requestTooLarge)) }
        if case .txn(let txn) = request, exceedsOps(txn) { return raft.eventLoop.makeFailedFuture(Self.rpcError(V3Error.tooManyOps)) }
        // etcd's quota check, before the log: a write that would pass the quota raises the
        // NOSPACE alarm (through the log, so every member refuses) and is refused.
        if request.addsData && !machine.fitsQuota(cost: request.quotaCost) {
            var alarm = Etcdserverpb_AlarmRequest()
            alarm.action = .activate
            alarm.memberID = raft.status.memberID
            alarm.alarm = .nospace
            let raised = raft.startProposal(V3Request.alarm(alarm), to: V3StateMachine.self).map { _ in () }
            return raised.recover { _ in () }.flatMapThrowing { _ in throw Self.rpcError(V3Error.noSpace) }
        }
        return raft.startProposal(encoded: payload, to: V3StateMachine.self).flatMapThrowing { outcome in
            switch outcome {
            case .success(let applied): return applied
            case .failure(let error): throw Self.rpcError(error)
            }
        }.flatMapErrorThrowing { error in
            throw (error as? ProposalError).map(Self.rpcError) ?? error
        }
    }

    private func exceedsOps(_ txn: Etcdserverpb_TxnRequest) -> Bool {
        if txn.compare.count > maxTxnOps || txn.success.count > maxTxnOps || txn.failure.count > maxTxnOps { return true }
        func nestedExceeds(_ op: Etcdserverpb_RequestOp) -> Bool {
            if case .requestTxn(let nested) = op.request { return exceedsOps(nested) }
            return false
        }
        return txn.success.contains(where: nestedExceeds) || txn.failure.contains(where: nestedExceeds)
    }

    /// A keep-alive, answered by the leader's lessor (forwarded there from a follower): the TTL,
    /// 0 if the lease is being revoked, nil if there is no such lease.
    func keepAlive(_ id: Int64) async throws -> Int64? {
        var answer = try await askLeader(.keepAlive(id))
        if answer == .notFound {
            // A lease granted just now may not be applied on the leader yet: once it has
            // applied all that is committed, ask again.
            try await confirmLinearizable()
            answer = try await askLeader(.keepAlive(id))
        }
        guard case .renewed(let ttl) = answer else { return nil }
        return ttl
    }

    /// The time left on a lease by the leader's clock, which alone decides expiry.
    func timeToLive(_ id: Int64) async throws -> (remaining: Int64, granted: Int64, keys: [[UInt8]])? {
        guard case .timeToLive(let remaining, let granted, let keys) = try await askLeader(.timeToLive(id)) else { return nil }
        return (remaining, granted, keys)
    }

    private func askLeader(_ query: PeerQuery) async throws -> PeerAnswer {
        do {
            return try await raft.askLeader(query, of: V3StateMachine.self)
        } catch let error as ProposalError {
            throw Self.rpcError(error)
        } catch {
            throw Self.rpcError(V3Error.noLeader)
        }
    }

    /// Refuses the caller (`CallIdentity.caller()`) unless it holds the root role, while auth is
    /// on: what etcd requires for the maintenance calls that see or change the whole store.
    ///
    /// `asMaintenance`: refused as etcd 3.4's maintenance server refuses, with the auth store's
    /// own error unconverted (code Unknown, "auth: permission denied"), which is what clients see.
    func requireAdmin(asMaintenance: Bool = false) throws(RPCError) {
        let caller = try CallIdentity.caller() ?? .nobody
        let outcome = machine.read { store in Result { () throws(V3Error) in try store.auth.checkAdmin(caller) } }
        guard case .failure(let error) = outcome else { return }
        guard asMaintenance else { throw Self.rpcError(error) }
        // The auth store's own words: "auth: user not found", not rpctypes' "user name not found".
        let message = error == .userNotFound ? "auth: user not found" : error.message.replacingOccurrences(of: "etcdserver: ", with: "auth: ")
        throw RPCError(code: .unknown, message: message)
    }

    /// Refuses the caller unless it may read every key in [key, rangeEnd).
    func requireRead(key: [UInt8], rangeEnd: [UInt8] = []) throws(RPCError) {
        let caller = try CallIdentity.caller() ?? .nobody
        let outcome = machine.read { store in Result { () throws(V3Error) in try store.auth.check(.read, key: key, rangeEnd: rangeEnd, as: caller) } }
        if case .failure(let error) = outcome { throw Self.rpcError(error) }
    }

    /// Waits until a read here would be linearizable.
    func confirmLinearizable() async throws {
        try await startConfirmingLinearizable().get()
    }

    /// `confirmLinearizable` without a task: the future completes on the Raft loop.
    func startConfirmingLinearizable() -> EventLoopFuture<Void> {
        raft.startLinearizableRead().flatMapErrorThrowing { error in
            throw (error as? ProposalError).map(Self.rpcError) ?? error
        }
    }

    /// Whether this member is a learner: it serves only serializable reads and status.
    var isLearner: Bool { raft.isLearner }

    static func rpcError(_ error: MembershipError) -> RPCError {
        switch error {
        case .badURL: rpcError(V3Error.memberBadURLs)
        case .onlyOnePeerURL: RPCError(code: .invalidArgument, message: "etcdserver: given member URLs are invalid: this server takes one peer URL per member")
        case .peerURLExists: rpcError(V3Error.peerURLExist)
        case .notFound: rpcError(V3Error.memberNotFound)
        case .notLearner: rpcError(V3Error.memberNotLearner)
        case .learnerNotReady: rpcError(V3Error.learnerNotReady)
        case .tooManyLearners: rpcError(V3Error.tooManyLearners)
        case .notEnoughStarted: rpcError(V3Error.memberNotEnoughStarted)
        case .unhealthy: rpcError(V3Error.unhealthy)
        case .noLeader: rpcError(V3Error.noLeader)
        case .changeInProgress: RPCError(code: .unavailable, message: "etcdserver: another membership change is in progress; retry")
        case .timedOut: rpcError(V3Error.timeout)
        case .stopped: rpcError(V3Error.stopped)
        case .leaderChanged: rpcError(V3Error.leaderChanged)
        }
    }

    static func rpcError(_ error: ProposalError) -> RPCError {
        switch error {
        case .noLeader: rpcError(V3Error.noLeader)
        case .timedOut: rpcError(V3Error.timeout)
        case .leaderChanged: rpcError(V3Error.leaderChanged)
        case .stopped: rpcError(V3Error.stopped)
        case .unreadable: RPCError(code: .internalError, message: "etcdserver: the request could not be written to or read from the log")
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
            case .dataLoss: .dataLoss
            case .unknown: .unknown
            case .permissionDenied: .permissionDenied
            case .unauthenticated: .unauthenticated
            }
        return RPCError(code: code, message: error.message)
    }
}
