import BinaryCodec
import Foundation
import EtcdAPI
import Raft
import Synchronization

/// The v3 store as one of the machines the log feeds (`ReplicatedStateMachine`, tag 2): the
/// Raft loop applies committed v3 writes here, in log order, and gRPC handlers read it. One lock guards the store and the watchers, so a
/// watcher registered at revision R sees exactly the changes after R, none twice, none lost.
public final class V3StateMachine: ReplicatedStateMachine {
    let state: Mutex<State>

    struct State {
        var store = MVCCStore()
        var watchers = WatcherSet()
        /// When each lease runs out, by this member's clock; only the leader acts on it.
        var lessor = Lessor()
        /// What the store has grown to (etcd's db size): freed space stays counted until a
        /// defragmentation, as a database file keeps its pages. This member's own figure.
        /// With a file backend, the file's own size is the figure instead.
        var totalSize = 0
        /// The total as of the last commit of the file (the total itself in memory): what the
        /// quota is checked against, as etcd checks its backend's size as of its last commit.
        /// Mirrored in `quota`, which every write's check reads without this lock.
        var knownTotal = 0 { didSet { quota.total.store(knownTotal, ordering: .relaxed) } }
        let quota: QuotaGauge
        /// The file the store keeps its revisions in (nil: in memory), and how its batches go.
        var file: SQLiteBackend?
        var batch = BatchPolicy()
        /// The index of the last entry applied (etcd's consistent index): entries at or below
        /// it are already in the store, so a replay of the log after a restart skips them.
        var consistentIndex: UInt64 = 0
        /// Entries applied since the last commit of the file, and when that was.
        var uncommitted = 0
        var lastCommit: ContinuousClock.Instant?
        /// This member's login tokens (not replicated state: see `SimpleTokens`).
        var tokens = SimpleTokens(ttl: .seconds(300))
        /// `--auth-token jwt,…`: signed tokens instead, which any member verifies.
        var jwt: JWTTokens?
    }

    let now: @Sendable () -> ContinuousClock.Instant
    /// `State.knownTotal`, readable without the lock: every write's quota check reads it on a
    /// client connection's loop, while the Raft loop holds the lock applying.
    let quota: QuotaGauge

    /// `now` is injectable so tests can move time; the daemon uses the monotonic clock.
    public init(quotaBytes: Int = V3StateMachine.defaultQuotaBytes, now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.now = now
        self.quotaBytes = quotaBytes
        let quota = QuotaGauge()
        self.quota = quota
        self.state = Mutex(State(quota: quota))
    }

    /// `--quota-backend-bytes`: past this, writes that add data raise NOSPACE and are refused.
    public let quotaBytes: Int
    /// etcd's default quota: 2 GiB.
    public static let defaultQuotaBytes = 2 << 30

    /// The store's size as etcd reports it: total (grown to) and in use.
    public var sizes: (total: Int, inUse: Int) {
        state.withLock { $0.sizes }
    }

    /// Gives back the space freed by compactions (etcd's defragment): the file is rebuilt
    /// without its free pages, or in memory the total drops to what is in use. Local to this
    /// member, as in etcd.
    public func defragment() throws {
        let instant = now()
        try state.withLock { state in
            guard let file = state.file else {
                state.totalSize = state.store.sizeInUse
                state.knownTotal = state.totalSize
                return
            }
            state.commit(at: instant)
            try file.defragment()
            state.knownTotal = state.sizes.total
        }
    }

    /// Whether a write adding about `cost` bytes fits in the quota.
    func fitsQuota(cost: Int) -> Bool {
        // As etcd: strictly below the quota.
        cost == 0 || quotaBytes <= 0 || quota.total.load(ordering: .relaxed) + cost < quotaBytes
    }

    public static let tag: UInt8 = 2

    public static func encode(_ command: V3Request) throws -> [UInt8] { try command.encoded() }

    public static func decode(_ payload: ArraySlice<UInt8>) -> V3Request? { try? V3Request(encoded: Array(payload)) }

    public func apply(_ request: V3Request, at index: UInt64) -> Swift.Result<V3Applier.Applied, V3Error> {
        let instant = now()
        return state.withLock { state in
            // Already in the store (a replay after a restart, or a snapshot from the leader
            // that was newer than the entry): applying it again would write it twice.
            if index > 0 && index <= state.consistentIndex { return .failure(.appliedBefore) }
            defer { state.noteApplied(index, at: instant) }
            // Events carry the values they replace only for watchers that asked (prev_kv).
            state.store.eventsCarryPrevious = state.watchers.wantsPrevious
            // The size it reaches counts once the entry is noted applied (`noteApplied`, deferred above).
            var result = V3Applier.apply(request, to: &state.store)
            if case .success(let applied) = result, case .auth(let answer) = applied.response {
                result = state.afterAuthChange(request, answer: answer, applied: applied, index: index, now: instant)
            }
            if case .success(let applied) = result {
                if !applied.events.isEmpty { state.watchers.deliver(applied.events, revision: applied.revision) }
                switch applied.response {
                case .leaseGrant(let grant): state.lessor.restart(grant.id, ttl: grant.ttl, at: instant)
                case .leaseRenew(let id, _) where state.lessor.isRevoking(id):
                    // Too late: this leader already proposed its revocation. Say so (TTL 0),
                    // as etcd answers a keep-alive for an expired lease.
                    var answer = applied
                    answer.response = .leaseRenew(id: id, ttl: 0)
                    return Swift.Result<V3Applier.Applied, V3Error>.success(answer)
                case .leaseRenew(let id, let ttl): state.lessor.restart(id, ttl: ttl, at: instant)
                default: break
                }
            }
            // A client's revocation comes wrapped with its sender; one refused (permission
            // denied) leaves the lease, and its clock, as they were.
            var inner = request
            if case .asUser(_, let wrapped) = request { inner = wrapped }
            if case .leaseRevoke(let revoke) = inner, state.store.leases[revoke.id] == nil { state.lessor.forget(revoke.id) }
            return result
        }
    }

    public func snapshotData() -> [UInt8] {
        snapshotSource()()
    }

    public func leadershipChanged(isLeader: Bool) {
        let instant = now()
        state.withLock { state in state.lessor.leadershipChanged(isLeader: isLeader, leases: state.store.leases, at: instant) }
    }

    /// Leases past their expiry and not already being revoked; they are marked as being
    /// revoked. The leader proposes a revocation for each.
    func dueLeases() -> [Int64] {
        let instant = now()
        return state.withLock { $0.lessor.takeDue(at: instant) }
    }

    /// A keep-alive, on the leader: its clock restarts the lease's TTL, and nothing goes
    /// through the log (as etcd's lessor renews). Followers do not need it: a new leader gives
    /// every lease its full TTL again. Returns the TTL, 0 if its revocation is under way, nil
    /// if there is no such lease.
    func renew(_ id: Int64) -> Int64? {
        let instant = now()
        return state.withLock { state in
            guard let lease = state.store.leases[id] else { return nil }
            return state.lessor.renew(id, lease, at: instant)
        }
    }

    /// The lease questions only the leader answers, since its clock alone decides expiry.
    public func answerAsLeader(_ query: PeerQuery) -> PeerAnswer? {
        switch query {
        case .keepAlive(let id): renew(id).map { .renewed(ttl: $0) } ?? .notFound
        case .timeToLive(let id): remainingTTL(id).map { .timeToLive(remaining: $0.remaining, granted: $0.granted, keys: $0.keys) } ?? .notFound
        case .hashKV: nil
        }
    }

    /// What any member answers from its own state: its HashKV, for a peer's corruption check
    /// (off the Raft loop: it reads the whole history). Nil if the revision is compacted or
    /// not reached yet.
    public func answerAsMember(_ query: PeerQuery) -> PeerAnswer? {
        guard case .hashKV(let revision) = query, let hashed = try? hashKV(at: revision) else { return nil }
        return .hashed(hash: hashed.hash, compactRevision: hashed.compactRevision == 0 ? -1 : hashed.compactRevision, revision: hashed.revision)
    }

    public static func encode(query: PeerQuery) -> [UInt8] { query.encoded }
    public static func decode(query: ArraySlice<UInt8>) -> PeerQuery? { PeerQuery(encoded: query) }
    public static func encode(answer: PeerAnswer) -> [UInt8] { answer.encoded }
    public static func decode(answer: ArraySlice<UInt8>) -> PeerAnswer? { PeerAnswer(encoded: answer) }

    /// A proposed revocation failed (say, leadership moved): the lease may be tried again.
    func revocationFailed(_ id: Int64) {
        state.withLock { $0.lessor.revocationFailed(id) }
    }

    /// Seconds left on lease `id` by this member's clock, rounded up; nil if there is no such
    /// lease.
    func remainingTTL(_ id: Int64) -> (remaining: Int64, granted: Int64, keys: [[UInt8]])? {
        let instant = now()
        return state.withLock { state in
            guard let lease = state.store.leases[id] else { return nil }
            return (state.lessor.remaining(id, lease, at: instant), lease.ttl, lease.keys.sorted { $0.lexicographicallyPrecedes($1) })
        }
    }

    /// How registering a watcher went (`WatcherSet.Start`).
    typealias WatchStart = WatcherSet.Start

    /// Registers `watcher` from `startRevision` (0: from the next change), under the lock
    /// every write takes, so it sees each change after the start exactly once.
    func watch(_ watcher: WatcherSet.Watcher, from startRevision: Int64) -> (WatchStart, revision: Int64) {
        state.withLock { state in state.watchers.register(watcher, from: startRevision, in: state.store) }
    }

    /// The watchers of a stream whose outbox drained, set aside while it was full, catch up
    /// from history.
    func retryBlockedWatchers(_ tokens: Set<UInt64>) {
        state.withLock { state in state.watchers.retryBlocked(tokens, with: state.store) }
    }

    /// Which of `tokens` are live (sent everything up to now), and the revision they are at:
    /// only those may be told "progress" (one set aside has not seen all before it).
    func syncedWatchers(_ tokens: [UInt64]) -> (Set<UInt64>, revision: Int64) {
        state.withLock { state in (Set(tokens.filter { state.watchers.isSynced($0) }), state.store.revision) }
    }

    func unwatch(_ token: UInt64) {
        state.withLock { $0.watchers.remove(token) }
    }

    /// Runs `body` with the store as it is now.
    public func read<T>(_ body: (MVCCStore) throws -> T) rethrows -> T {
        try state.withLock { try body($0.store) }
    }
}

extension V3StateMachine.State {
    /// What an applied auth request does to this member's tokens: a login gets its token, and
    /// deleting a user, changing its password or turning auth off ends the tokens it concerns.
    mutating func afterAuthChange(
        _ request: V3Request, answer: AuthResponse, applied: V3Applier.Applied, index: UInt64, now: ContinuousClock.Instant
    ) -> Result<V3Applier.Applied, V3Error> {
        let inner: V3Request
        if case .asUser(_, let wrapped) = request { inner = wrapped } else { inner = request }
        guard case .auth(let auth) = inner else { return .success(applied) }
        switch auth {
        case .authenticate(_, _, let prefix):
            guard case .authenticated(let user) = answer else { return .success(applied) }
            let token: String
            if let jwt {
                // Signed by every member as it applies the login (as etcd's); the member the
                // client asked returns its own. One without a private key cannot issue any.
                guard let signed = try? jwt.sign(user: user, revision: store.auth.revision, now: Date()) else {
                    return .failure(V3Error(code: .unknown, message: "auth: failed to sign a token: this member has no private key (--auth-token jwt,priv-key=…)"))
                }
                token = signed
            } else {
                token = "\(prefix).\(index)"
                tokens.assign(token, to: user, now: now)
            }
            var answered = applied
            answered.response = .auth(.token(token))
            return .success(answered)
        case .userDelete(let name), .userChangePassword(let name, _):
            tokens.invalidate(user: name)
        case .disable:
            tokens.removeAll()
        default:
            break
        }
        return .success(applied)
    }
}

/// The store's size as of its last commit, shared between the store's lock and the writes'
/// quota checks, which read it without the lock.
final class QuotaGauge: Sendable {
    let total = Atomic<Int>(0)
}
