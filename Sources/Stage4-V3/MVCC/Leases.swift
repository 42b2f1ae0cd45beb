/// Granting and revoking leases: replicated writes like any other, so every member agrees on
/// which leases exist and which keys hang on them.
extension MVCCStore {
    /// The longest TTL etcd grants (seconds).
    public static let maxLeaseTTL: Int64 = 9_000_000_000

    /// Creates lease `id`; nothing else changes, so the revision stays.
    public mutating func grantLease(_ id: Int64, ttl: Int64) throws(V3Error) {
        guard id > 0 else { throw V3Error(code: .invalidArgument, message: "etcdserver: lease ID must be positive") }
        guard leases[id] == nil else { throw V3Error.leaseExists }
        guard ttl <= Self.maxLeaseTTL else { throw V3Error.leaseTTLTooLarge }
        leases[id] = Lease(ttl: ttl)
        backend.saveLease(id, ttl: ttl)
    }

    /// Ends lease `id` and deletes its keys, all at one new revision.
    public mutating func revokeLease(_ id: Int64) throws(V3Error) -> [Event] {
        guard let lease = leases.removeValue(forKey: id) else { throw V3Error.leaseNotFound }
        backend.removeLease(id)
        let revision = nextRevision
        var events: [Event] = []
        for key in lease.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            events += deleteRange(key, [], at: revision)
        }
        return events
    }
}
