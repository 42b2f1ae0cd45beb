import EtcdAPI

/// Puts, deletes and transactions: the checks that can refuse them, all made before the first
/// write, then the writes.
extension V3Applier {
    // MARK: Checks before any write

    static func check(_ put: Etcdserverpb_PutRequest, in store: MVCCStore) throws(V3Error) {
        guard !put.key.isEmpty else { throw V3Error.emptyKey }
        if put.ignoreValue && !put.value.isEmpty { throw V3Error.valueProvided }
        if put.ignoreLease && put.lease != 0 { throw V3Error.leaseProvided }
        if (put.ignoreValue || put.ignoreLease) && !store.isLive(Array(put.key)) { throw V3Error.keyNotFound }
        if put.lease != 0 && store.leases[put.lease] == nil { throw V3Error.leaseNotFound }
    }

    /// The branch each transaction takes, outer first then nested in order (etcd's
    /// `compareToPath`), all judged against the store as it is now.
    static func decidePath(_ txn: Etcdserverpb_TxnRequest, in store: MVCCStore, into path: inout [Bool]) {
        let succeeded = compares(txn.compare, in: store)
        path.append(succeeded)
        for op in succeeded ? txn.success : txn.failure {
            if case .requestTxn(let nested) = op.request { decidePath(nested, in: store, into: &path) }
        }
    }

    private static func checkTxn(_ txn: Etcdserverpb_TxnRequest, path: [Bool], position: inout Int, in store: MVCCStore) throws(V3Error) {
        for compare in txn.compare where compare.key.isEmpty { throw V3Error.emptyKey }
        // Empty keys and duplicate puts are refused in both branches; leases, missing keys and
        // read revisions are checked in the branch that runs, as etcd does.
        for branch in [txn.success, txn.failure] {
            for op in branch {
                switch op.request {
                case .requestPut(let put): if put.key.isEmpty { throw V3Error.emptyKey }
                case .requestRange(let range): if range.key.isEmpty { throw V3Error.emptyKey }
                case .requestDeleteRange(let delete): if delete.key.isEmpty { throw V3Error.emptyKey }
                default: break
                }
            }
        }
        let branch = path[position] ? txn.success : txn.failure
        position += 1
        for op in branch {
            switch op.request {
            case .requestPut(let put): try check(put, in: store)
            case .requestRange(let range):
                do { _ = try store.readRevision(range.revision) } catch { throw V3Error.from(error) }
            case .requestTxn(let nested): try checkTxn(nested, path: path, position: &position, in: store)
            default: break
            }
        }
    }

    /// etcd's checkIntervals, over a branch and the transactions nested in it: a key may be put
    /// once, and never both put and deleted, wherever in the nesting the two are. The two
    /// branches of a nested transaction may put the same key, since only one of them runs.
    static func checkIntervals(_ ops: [Etcdserverpb_RequestOp]) throws(V3Error) -> (puts: Set<[UInt8]>, deletes: [([UInt8], [UInt8])]) {
        var deletes: [([UInt8], [UInt8])] = []
        for op in ops {
            if case .requestDeleteRange(let delete) = op.request { deletes.append((Array(delete.key), Array(delete.rangeEnd))) }
        }
        func deleted(_ key: [UInt8]) -> Bool { deletes.contains { MVCCStore.contains($0.0, $0.1, key) } }
        var puts = Set<[UInt8]>()
        for op in ops {
            guard case .requestTxn(let nested) = op.request else { continue }
            let then = try checkIntervals(nested.success)
            let otherwise = try checkIntervals(nested.failure)
            for key in then.puts {
                if puts.contains(key) || deleted(key) { throw V3Error.duplicateKey }
                puts.insert(key)
            }
            for key in otherwise.puts {
                if puts.contains(key) && !then.puts.contains(key) { throw V3Error.duplicateKey }
                if deleted(key) { throw V3Error.duplicateKey }
                puts.insert(key)
            }
            deletes += then.deletes + otherwise.deletes
        }
        for op in ops {
            guard case .requestPut(let put) = op.request else { continue }
            let key = Array(put.key)
            if puts.contains(key) || deleted(key) { throw V3Error.duplicateKey }
            puts.insert(key)
        }
        return (puts, deletes)
    }

    // MARK: Writes

    static func put(
        _ request: Etcdserverpb_PutRequest, at revision: Int64, events: inout [MVCCStore.Event], in store: inout MVCCStore
    ) -> Etcdserverpb_PutResponse {
        let key = Array(request.key)
        var value = Array(request.value), lease = request.lease
        // Only these need what the key holds before the put: its value from the file, its lease
        // from the index.
        if request.ignoreValue { value = store.current(key)?.value ?? [] }
        if request.ignoreLease { lease = store.lease(of: key) ?? 0 }
        let event = store.put(key, value, lease: lease, at: revision, readingPrevious: request.prevKv || store.eventsCarryPrevious)
        events.append(event)
        var response = Etcdserverpb_PutResponse()
        if request.prevKv, let previous = event.previous { response.prevKv = previous.message }
        return response
    }

    static func delete(
        _ request: Etcdserverpb_DeleteRangeRequest, at revision: Int64, events: inout [MVCCStore.Event], in store: inout MVCCStore
    ) -> Etcdserverpb_DeleteRangeResponse {
        let deleted = store.deleteRange(
            Array(request.key), Array(request.rangeEnd), at: revision, readingPrevious: request.prevKv || store.eventsCarryPrevious)
        events += deleted
        var response = Etcdserverpb_DeleteRangeResponse()
        response.deleted = Int64(deleted.count)
        if request.prevKv { response.prevKvs = deleted.compactMap { $0.previous?.message } }
        return response
    }

    /// Checks a transaction whole, then runs it: which branch each (nested) transaction takes
    /// is decided once, against the store before any of its writes, as etcd does.
    static func txn(
        _ request: Etcdserverpb_TxnRequest, at revision: Int64, events: inout [MVCCStore.Event], in store: inout MVCCStore
    ) throws(V3Error) -> Etcdserverpb_TxnResponse {
        _ = try checkIntervals(request.success)
        _ = try checkIntervals(request.failure)
        var path: [Bool] = []
        decidePath(request, in: store, into: &path)
        var position = 0
        try checkTxn(request, path: path, position: &position, in: store)
        position = 0
        return try run(request, at: revision, path: path, position: &position, events: &events, in: &store)
    }

    private static func run(
        _ request: Etcdserverpb_TxnRequest, at revision: Int64, path: [Bool], position: inout Int,
        events: inout [MVCCStore.Event], in store: inout MVCCStore
    ) throws(V3Error) -> Etcdserverpb_TxnResponse {
        var response = Etcdserverpb_TxnResponse()
        response.succeeded = path[position]
        position += 1
        for op in response.succeeded ? request.success : request.failure {
            var result = Etcdserverpb_ResponseOp()
            switch op.request {
            case .requestRange(let range):
                // Cannot throw after a write: `checkTxn` tried this read's revision first, and
                // a transaction's own writes move neither the compacted revision nor, for a
                // revision asked for explicitly, the answer to "is it in the future".
                var answer = try self.range(range, in: store)
                answer.header.revision = store.revision
                result.response = .responseRange(answer)
            case .requestPut(let put):
                result.response = .responsePut(self.put(put, at: revision, events: &events, in: &store))
            case .requestDeleteRange(let delete):
                result.response = .responseDeleteRange(self.delete(delete, at: revision, events: &events, in: &store))
            case .requestTxn(let nested):
                result.response = .responseTxn(try run(nested, at: revision, path: path, position: &position, events: &events, in: &store))
            case nil:
                continue
            }
            response.responses.append(result)
        }
        return response
    }
}
