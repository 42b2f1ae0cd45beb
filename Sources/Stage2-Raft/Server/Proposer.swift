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

/// What this member proposes, and the callers waiting to see it applied: clients' commands for
/// any machine, the v1 store's writes, and, while this member leads, the TTL expiries it alone
/// decides. An entry carries its proposer and a number (`Envelope`), so that the member applying
/// it can hand the result to the caller waiting on it.
///
/// `@unchecked Sendable` for the same reason as `RaftServer`: confined to the Raft loop.
final class Proposer: @unchecked Sendable {
    unowned let server: RaftServer
    // Proposals waiting on this member to see them applied.
    private var waiters = ProposalWaiters()
    // Numbers proposals: (origin, number) finds the waiting caller. Random per run, so an entry
    // proposed before a restart, applied after it, matches nobody.
    private var nextRequestID = UInt64.random(in: 1...(UInt64.max >> 1))
    // Keys whose expiry this leader proposed and has not seen applied yet.
    private var expiring: Set<String> = []
    private let requestTimeout: TimeAmount

    init(server: RaftServer) {
        self.server = server
        self.requestTimeout = server.configuration.requestTimeout
    }

    /// How many callers wait (for status).
    var waitingCount: Int { waiters.count }

    /// Proposes an entry for the machine with `tag`, and waits for it here.
    func propose(tag: UInt8, payload: [UInt8], finish: @escaping (Result<any Sendable, ProposalError>) -> Void) {
        let requestID = nextRequestID
        nextRequestID += 1
        do {
            try server.node.propose(Envelope(tag: tag, origin: server.id, requestID: requestID, payload: payload[...]).encoded())
        } catch {
            return finish(.failure(.noLeader))
        }
        waiters.wait(requestID, until: server.loop.now + requestTimeout, finish: finish)
        server.scheduleReady()
    }

    /// Proposes a v1 command nobody waits for (a TTL expiry, this member's URLs).
    func proposeUnwaited(_ command: Command) -> Bool {
        let envelope = Envelope(tag: StoreMachine.tag, origin: server.id, requestID: 0, payload: StoreMachine.encode(command)[...])
        return (try? server.node.propose(envelope.encoded())) != nil
    }

    /// A client's v1 write: proposed here if this member leads, else redirected to the leader
    /// (v1 clients follow a 307; they are never forwarded inside Raft).
    func proposeV1(_ kind: Command.Kind, issuedAt time: Timestamp, promise: EventLoopPromise<WriteOutcome>) {
        guard server.node.role == .leader else {
            if let leader = server.members[server.node.leader], !leader.clientURL.isEmpty {
                promise.succeed(.redirect(leaderClientURL: leader.clientURL))
            } else {
                promise.succeed(.completed(.failure(StoreError(.raftInternal))))
            }
            return
        }
        propose(tag: StoreMachine.tag, payload: StoreMachine.encode(Command(kind, time: time))) { outcome in
            switch outcome {
            case .success(let result as Result<V1Response, StoreError>): promise.succeed(.completed(result))
            case .success: promise.succeed(.completed(.failure(StoreError(.raftInternal))))
            case .failure(let error): promise.succeed(.completed(.failure(StoreError(.raftInternal, cause: Self.v1Cause(error)))))
            }
        }
    }

    /// The v1 API's words for a write that did not complete.
    static func v1Cause(_ error: ProposalError) -> String {
        switch error {
        case .timedOut: "raft: Command timeout"
        case .leaderChanged: "leadership changed; the write may or may not have happened"
        case .stopped: "the server is stopping"
        case .noLeader: "raft: proposal dropped"
        case .unreadable: "the command could not be encoded"
        }
    }

    /// An entry this member proposed applied, with `result` (nil: it could not be read back).
    func applied(_ requestID: UInt64, result: (any Sendable)?) {
        guard let finish = waiters.take(requestID) else { return }
        finish(result.map { .success($0) } ?? .failure(.unreadable))
    }

    /// As leader, the single authority on TTLs: propose an expiry for each key due now, once.
    func proposeExpirations() {
        let now = server.clock.now()
        for (key, expiration) in server.machine.dueExpirations(at: now) where !expiring.contains(key) {
            if proposeUnwaited(Command(.expire(key: key, expiration: expiration), time: now)) { expiring.insert(key) }
        }
    }

    /// An expiry applied: the key may be proposed again if it comes due again.
    func expired(_ key: String) { expiring.remove(key) }

    /// This member stopped leading: entries proposed here may still commit under the next
    /// leader, but it cannot promise it, so the callers are told to check and retry (as etcd
    /// does on a leader change); the next leader decides the expiries.
    func leadershipLost() {
        expiring = []
        failAll(.leaderChanged)
    }

    /// Fails every proposal this member waits on.
    func failAll(_ error: ProposalError) {
        let failing = waiters.takeAll()
        if !failing.isEmpty, error != .stopped { RaftMetrics.proposalsFailed.increment(by: failing.count) }
        for finish in failing { finish(.failure(error)) }
    }

    /// Fails the proposals waiting longer than the request timeout (checked every tick).
    func expireWaiting() {
        guard !waiters.isEmpty else { return }
        let expired = waiters.takeExpired(at: server.loop.now)
        if !expired.isEmpty { RaftMetrics.proposalsFailed.increment(by: expired.count) }
        for finish in expired { finish(.failure(.timedOut)) }
    }
}
