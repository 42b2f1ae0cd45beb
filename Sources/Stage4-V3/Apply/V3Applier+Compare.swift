import EtcdAPI

/// A transaction's compares, judged against the store as it is before any of its writes.
extension V3Applier {
    /// Whether every compare holds now; a compare with a range end must hold for every key in
    /// the range.
    static func compares(_ compares: [Etcdserverpb_Compare], in store: MVCCStore) -> Bool {
        compares.allSatisfy { compare in
            let key = Array(compare.key)
            if compare.rangeEnd.isEmpty {
                return holds(compare, store.current(key))
            }
            let kvs = store.range(key, Array(compare.rangeEnd), at: store.revision)
            // No key in the range: compared as an absent key, as etcd does.
            if kvs.isEmpty { return holds(compare, nil) }
            return kvs.allSatisfy { holds(compare, $0) }
        }
    }

    /// One compare against a key's value (nil: absent; then version, create and mod are 0 and
    /// a value compare fails, as in etcd).
    static func holds(_ compare: Etcdserverpb_Compare, _ kv: MVCCStore.KeyValue?) -> Bool {
        let ordering: Int
        switch compare.target {
        case .value:
            guard let kv else { return false }
            guard case .value(let expected) = compare.targetUnion else { return false }
            let actual = kv.value, wanted = Array(expected)
            ordering = actual == wanted ? 0 : actual.lexicographicallyPrecedes(wanted) ? -1 : 1
        case .version, .create, .mod, .lease, .UNRECOGNIZED:
            let actual: Int64 =
                switch compare.target {
                case .version: kv?.version ?? 0
                case .create: kv?.createRevision ?? 0
                case .mod: kv?.modRevision ?? 0
                default: kv?.lease ?? 0
                }
            let wanted: Int64 =
                switch compare.targetUnion {
                case .version(let value), .createRevision(let value), .modRevision(let value), .lease(let value): value
                default: 0
                }
            ordering = actual == wanted ? 0 : actual < wanted ? -1 : 1
        }
        switch compare.result {
        case .equal: return ordering == 0
        case .notEqual: return ordering != 0
        case .greater: return ordering > 0
        case .less: return ordering < 0
        case .UNRECOGNIZED: return false
        }
    }
}
