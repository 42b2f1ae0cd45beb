/// When each lease runs out, by this member's clock (etcd's lessor). Which leases exist, their
/// TTLs and keys are replicated in the store; their deadlines are not: only the leader acts on
/// them, proposing a revocation for each lease past its deadline.
///
/// Deadlines restart when a grant or a keep-alive applies, and for every lease when this member
/// becomes leader (etcd's "promote": a new leader gives every lease its full TTL again).
struct Lessor {
    var expiries: [Int64: ContinuousClock.Instant] = [:]
    /// Leases whose revocation this leader proposed and has not seen applied.
    private(set) var revoking: Set<Int64> = []

    /// A grant or a keep-alive applied: the lease has its full TTL from `instant`.
    mutating func restart(_ id: Int64, ttl: Int64, at instant: ContinuousClock.Instant) {
        expiries[id] = instant + .seconds(ttl)
    }

    func isRevoking(_ id: Int64) -> Bool { revoking.contains(id) }

    /// The lease is gone from the store.
    mutating func forget(_ id: Int64) {
        expiries[id] = nil
        revoking.remove(id)
    }

    /// Leadership moved: nothing this member proposed is under way any more, and a new leader
    /// gives every lease its full TTL.
    mutating func leadershipChanged(isLeader: Bool, leases: [Int64: MVCCStore.Lease], at instant: ContinuousClock.Instant) {
        revoking = []
        guard isLeader else { return }
        for (id, lease) in leases { restart(id, ttl: lease.ttl, at: instant) }
    }

    /// A restored store takes over: every lease gets its full TTL from `instant`.
    mutating func reset(to leases: [Int64: MVCCStore.Lease], at instant: ContinuousClock.Instant) {
        expiries = leases.mapValues { instant + .seconds($0.ttl) }
        revoking = []
    }

    /// Leases past their deadline and not already being revoked, marked as being revoked.
    mutating func takeDue(at instant: ContinuousClock.Instant) -> [Int64] {
        let due = expiries.filter { $0.value <= instant && !revoking.contains($0.key) }.map(\.key).sorted()
        revoking.formUnion(due)
        return due
    }

    /// A proposed revocation failed (say, leadership moved): the lease may be tried again.
    mutating func revocationFailed(_ id: Int64) { revoking.remove(id) }

    /// A keep-alive on the leader: restarts `lease`'s TTL and returns it, or 0 if it is past
    /// its deadline (the revocation may not be proposed yet) or being revoked: too late, as
    /// etcd's lessor refuses to renew an expired lease.
    mutating func renew(_ id: Int64, _ lease: MVCCStore.Lease, at instant: ContinuousClock.Instant) -> Int64 {
        if revoking.contains(id) || (expiries[id].map { $0 <= instant } ?? false) { return 0 }
        restart(id, ttl: lease.ttl, at: instant)
        return lease.ttl
    }

    /// Whole seconds left on `lease`, rounded up (its full TTL if it has no deadline here).
    func remaining(_ id: Int64, _ lease: MVCCStore.Lease, at instant: ContinuousClock.Instant) -> Int64 {
        let left = expiries[id].map { instant.duration(to: $0) } ?? .seconds(lease.ttl)
        let (seconds, attoseconds) = left.components
        return max(0, seconds + (attoseconds > 0 ? 1 : 0))
    }
}
