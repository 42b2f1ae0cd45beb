import EtcdAPI
import Foundation

/// Range: reading keys as etcd answers, with its filters, sort and limit.
extension V3Applier {
    /// A Range request as etcd answers it (header left to the caller).
    public static func range(_ request: Etcdserverpb_RangeRequest, in store: MVCCStore) throws(V3Error) -> Etcdserverpb_RangeResponse {
        guard !request.key.isEmpty else { throw V3Error.emptyKey }
        let at: Int64
        do { at = try store.readRevision(request.revision) } catch { throw V3Error.from(error) }
        let key = Array(request.key), end = Array(request.rangeEnd)
        var response = Etcdserverpb_RangeResponse()
        if request.countOnly {
            // Counted without gathering the values.
            response.count = Int64(store.count(key, end, at: at))
            return response
        }
        // A keys-only answer reads no value, unless the sort needs them (etcd sorts, then drops them).
        let values = !request.keysOnly || request.sortTarget == .value
        let filtered = request.minModRevision != 0 || request.maxModRevision != 0 || request.minCreateRevision != 0 || request.maxCreateRevision != 0
        let keyOrder = request.sortOrder == .none || (request.sortTarget == .key && request.sortOrder == .ascend)
        if request.limit > 0 && !filtered && keyOrder {
            // The first `limit` keys are the answer: only their values are read from the
            // backend, and the rest are counted in the index (a paginated list of a large store).
            let kvs = store.range(key, end, at: at, limit: Int(request.limit), values: values)
            response.count = Int64(store.count(key, end, at: at))
            response.more = response.count > Int64(kvs.count)
            response.kvs = kvs.map { kv in
                var message = kv.message
                if request.keysOnly { message.value = Data() }
                return message
            }
            return response
        }
        var kvs = store.range(key, end, at: at, values: values)
        response.count = Int64(kvs.count)
        // Filters, then sort, then limit: etcd's order, so `more` and `count` mean the same.
        if request.minModRevision != 0 { kvs.removeAll { $0.modRevision < request.minModRevision } }
        if request.maxModRevision != 0 { kvs.removeAll { $0.modRevision > request.maxModRevision } }
        if request.minCreateRevision != 0 { kvs.removeAll { $0.createRevision < request.minCreateRevision } }
        if request.maxCreateRevision != 0 { kvs.removeAll { $0.createRevision > request.maxCreateRevision } }
        var order = request.sortOrder
        if request.sortTarget != .key && order == .none { order = .ascend }
        if order != .none {
            let ascending: (MVCCStore.KeyValue, MVCCStore.KeyValue) -> Bool =
                switch request.sortTarget {
                case .key: { $0.key.lexicographicallyPrecedes($1.key) }
                case .version: { $0.version < $1.version }
                case .create: { $0.createRevision < $1.createRevision }
                case .mod: { $0.modRevision < $1.modRevision }
                case .value: { $0.value.lexicographicallyPrecedes($1.value) }
                case .UNRECOGNIZED: { $0.key.lexicographicallyPrecedes($1.key) }
                }
            // Stable, so equal targets keep key order, as Go's sort.Stable does.
            kvs = order == .descend
                ? kvs.enumerated().sorted { ascending($1.element, $0.element) || (!ascending($0.element, $1.element) && $0.offset < $1.offset) }.map(\.element)
                : kvs.enumerated().sorted { ascending($0.element, $1.element) || (!ascending($1.element, $0.element) && $0.offset < $1.offset) }.map(\.element)
        }
        if request.limit > 0 && kvs.count > Int(request.limit) {
            kvs.removeLast(kvs.count - Int(request.limit))
            response.more = true
        }
        response.kvs = kvs.map { kv in
            var message = kv.message
            if request.keysOnly { message.value = Data() }
            return message
        }
        return response
    }
}

extension MVCCStore.KeyValue {
    /// As `mvccpb.KeyValue`.
    public var message: Mvccpb_KeyValue {
        var message = Mvccpb_KeyValue()
        message.key = Data(key)
        message.value = Data(value)
        message.createRevision = createRevision
        message.modRevision = modRevision
        message.version = version
        message.lease = lease
        return message
    }
}
