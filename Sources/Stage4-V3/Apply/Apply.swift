import EtcdAPI
import Foundation

/// Applying the v3 API's write requests to the store, exactly as every member will: the
/// request is checked first (so a failed one changes nothing), then its writes happen at one
/// new revision. Reads (`range`) are here too, because transactions contain them.
extension MVCCStore {
    /// The outcome of one applied write: its answer and the changes watchers will see.
    public struct Applied: Sendable {
        public var response: V3Response
        public var events: [Event]
        /// The revision the store is at after it (the header's revision).
        public var revision: Int64
    }

    /// Applies `request` in place. Every check that can refuse it runs before its first write
    /// (as etcd's checkRequests does), so a refused request leaves the store as it was, with
    /// no copy of the store taken: a copy would be paid for on every write, the first change
    /// to a shared chunk of the index copying all of it.
    public mutating func apply(_ request: V3Request) -> Result<Applied, V3Error> {
        if case .asUser(let who, let inner) = request { return applyInPlace(inner, as: who) }
        return applyInPlace(request, as: nil)
    }

    /// `who`: the client the request came from, whose permissions are checked first; nil for
    /// the server's own requests.
    private mutating func applyInPlace(_ request: V3Request, as who: AuthInfo?) -> Result<Applied, V3Error> {
        // From here on, a `throw` must come before the first write (see `apply`).
        do {
            if let who {
                // etcd's API layer refuses malformed requests before any permission check.
                try Self.validate(request)
                try authorize(request, as: who)
            }
            let writeRevision = nextRevision
            var events: [Event] = []
            let response: V3Response
            // Out of space: nothing new goes in until the alarm is cleared (deletes and
            // compactions still do, to make room).
            if request.addsData && alarms.contains(where: { $0.kind == Alarm.noSpace }) { throw V3Error.noSpace }
            // A member found corrupt: nothing changes until an operator has looked and disarmed
            // the alarm (etcd's applierV3Corrupt). Leases keep their time; alarms can be cleared.
            if alarms.contains(where: { $0.kind == Alarm.corrupt }) {
                switch request {
                case .alarm, .leaseRenew: break
                default: throw V3Error.corrupt
                }
            }
            switch request {
            case .put(let put):
                try check(put)
                response = .put(self.put(put, at: writeRevision, events: &events))
            case .deleteRange(let delete):
                guard !delete.key.isEmpty else { throw V3Error.emptyKey }
                response = .deleteRange(self.delete(delete, at: writeRevision, events: &events))
            case .txn(let txn):
                // Which branch each (nested) transaction takes is decided once, against the
                // store before any of its writes, as etcd does.
                _ = try Self.checkIntervals(txn.success)
                _ = try Self.checkIntervals(txn.failure)
                var path: [Bool] = []
                decidePath(txn, into: &path)
                var position = 0
                try checkTxn(txn, path: path, position: &position)
                position = 0
                response = .txn(try self.txn(txn, at: writeRevision, path: path, position: &position, events: &events))
            case .compact(let compaction):
                do { try compact(compaction.revision) } catch { throw V3Error.from(error) }
                response = .compact(Etcdserverpb_CompactionResponse())
            case .leaseGrant(let grant):
                try grantLease(grant.id, ttl: grant.ttl)
                var answer = Etcdserverpb_LeaseGrantResponse()
                answer.id = grant.id
                answer.ttl = grant.ttl
                response = .leaseGrant(answer)
            case .leaseRevoke(let revoke):
                events = try revokeLease(revoke.id)
                response = .leaseRevoke(Etcdserverpb_LeaseRevokeResponse())
            case .leaseRenew(let renew):
                guard let lease = leases[renew.id] else { throw V3Error.leaseNotFound }
                response = .leaseRenew(id: renew.id, ttl: lease.ttl)
            case .alarm(let request):
                response = .alarm(self.alarm(request))
            case .auth(let request):
                let before = (auth.revision, auth.isEnabled)
                response = .auth(try auth.apply(request, as: who))
                if (auth.revision, auth.isEnabled) != before { backend.saveAuth(auth.encoded()) }
            case .asUser:
                // Only the outermost request names its sender.
                throw V3Request.damaged
            }
            return .success(Applied(response: response, events: events, revision: revision))
        } catch let error as V3Error {
            return .failure(error)
        } catch {
            return .failure(V3Error(code: .invalidArgument, message: "\(error)"))
        }
    }

    /// Raises or clears an alarm; the answer lists the alarms it changed, as etcd's does.
    mutating func alarm(_ request: Etcdserverpb_AlarmRequest) -> Etcdserverpb_AlarmResponse {
        var response = Etcdserverpb_AlarmResponse()
        let alarm = Alarm(memberID: request.memberID, kind: Int32(request.alarm.rawValue))
        switch request.action {
        case .activate:
            guard request.alarm != .none else { break }
            alarms.insert(alarm)
            response.alarms = [Self.message(alarm)]
        case .deactivate:
            // Member 0 or alarm NONE: every member's, or every kind (etcdctl disarms all).
            let matching = alarms.filter {
                (request.memberID == 0 || $0.memberID == request.memberID) && (request.alarm == .none || $0.kind == alarm.kind)
            }
            alarms.subtract(matching)
            response.alarms = matching.sorted().map(Self.message)
        default:
            response.alarms = alarms.sorted().map(Self.message)
        }
        if request.action != .get { backend.saveAlarms(alarms.sorted()) }
        return response
    }

    static func message(_ alarm: Alarm) -> Etcdserverpb_AlarmMember {
        var member = Etcdserverpb_AlarmMember()
        member.memberID = alarm.memberID
        member.alarm = Etcdserverpb_AlarmType(rawValue: Int(alarm.kind)) ?? .none
        return member
    }

    // MARK: Reads

    /// A Range request as etcd answers it (header left to the caller).
    public func range(_ request: Etcdserverpb_RangeRequest) throws(V3Error) -> Etcdserverpb_RangeResponse {
        guard !request.key.isEmpty else { throw V3Error.emptyKey }
        let at: Int64
        do { at = try readRevision(request.revision) } catch { throw V3Error.from(error) }
        let key = Array(request.key), end = Array(request.rangeEnd)
        var response = Etcdserverpb_RangeResponse()
        if request.countOnly {
            // Counted without gathering the values.
            response.count = Int64(count(key, end, at: at))
            return response
        }
        let filtered = request.minModRevision != 0 || request.maxModRevision != 0 || request.minCreateRevision != 0 || request.maxCreateRevision != 0
        let keyOrder = request.sortOrder == .none || (request.sortTarget == .key && request.sortOrder == .ascend)
        if request.limit > 0 && !filtered && keyOrder {
            // The first `limit` keys are the answer: only their values are read from the
            // backend, and the rest are counted in the index (a paginated list of a large store).
            let kvs = range(key, end, at: at, limit: Int(request.limit))
            response.count = Int64(count(key, end, at: at))
            response.more = response.count > Int64(kvs.count)
            response.kvs = kvs.map { kv in
                var message = kv.message
                if request.keysOnly { message.value = Data() }
                return message
            }
            return response
        }
        var kvs = range(key, end, at: at)
        response.count = Int64(kvs.count)
        // Filters, then sort, then limit: etcd's order, so `more` and `count` mean the same.
        if request.minModRevision != 0 { kvs.removeAll { $0.modRevision < request.minModRevision } }
        if request.maxModRevision != 0 { kvs.removeAll { $0.modRevision > request.maxModRevision } }
        if request.minCreateRevision != 0 { kvs.removeAll { $0.createRevision < request.minCreateRevision } }
        if request.maxCreateRevision != 0 { kvs.removeAll { $0.createRevision > request.maxCreateRevision } }
        var order = request.sortOrder
        if request.sortTarget != .key && order == .none { order = .ascend }
        if order != .none {
            let ascending: (KeyValue, KeyValue) -> Bool =
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

    // MARK: Checks before any write

    private func check(_ put: Etcdserverpb_PutRequest) throws(V3Error) {
        guard !put.key.isEmpty else { throw V3Error.emptyKey }
        if put.ignoreValue && !put.value.isEmpty { throw V3Error.valueProvided }
        if put.ignoreLease && put.lease != 0 { throw V3Error.leaseProvided }
        if (put.ignoreValue || put.ignoreLease) && current(Array(put.key)) == nil { throw V3Error.keyNotFound }
        if put.lease != 0 && leases[put.lease] == nil { throw V3Error.leaseNotFound }
    }

    /// The branch each transaction takes, outer first then nested in order (etcd's
    /// `compareToPath`), all judged against the store as it is now.
    func decidePath(_ txn: Etcdserverpb_TxnRequest, into path: inout [Bool]) {
        let succeeded = compares(txn.compare)
        path.append(succeeded)
        for op in succeeded ? txn.success : txn.failure {
            if case .requestTxn(let nested) = op.request { decidePath(nested, into: &path) }
        }
    }

    private func checkTxn(_ txn: Etcdserverpb_TxnRequest, path: [Bool], position: inout Int) throws(V3Error) {
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
            case .requestPut(let put): try check(put)
            case .requestRange(let range):
                do { _ = try readRevision(range.revision) } catch { throw V3Error.from(error) }
            case .requestTxn(let nested): try checkTxn(nested, path: path, position: &position)
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
        func deleted(_ key: [UInt8]) -> Bool { deletes.contains { contains($0.0, $0.1, key) } }
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

    static func contains(_ start: [UInt8], _ end: [UInt8], _ key: [UInt8]) -> Bool {
        let (lower, upper, single) = bounds(start, end)
        if single { return key == lower }
        return !key.lexicographicallyPrecedes(lower) && (upper.map { key.lexicographicallyPrecedes($0) } ?? true)
    }

    // MARK: Writes

    private mutating func put(_ request: Etcdserverpb_PutRequest, at revision: Int64, events: inout [Event]) -> Etcdserverpb_PutResponse {
        let key = Array(request.key)
        let previous = current(key)
        let value = request.ignoreValue ? previous?.value ?? [] : Array(request.value)
        let lease = request.ignoreLease ? previous?.lease ?? 0 : request.lease
        events.append(put(key, value, lease: lease, at: revision))
        var response = Etcdserverpb_PutResponse()
        if request.prevKv, let previous { response.prevKv = previous.message }
        return response
    }

    private mutating func delete(_ request: Etcdserverpb_DeleteRangeRequest, at revision: Int64, events: inout [Event]) -> Etcdserverpb_DeleteRangeResponse {
        let deleted = deleteRange(Array(request.key), Array(request.rangeEnd), at: revision)
        events += deleted
        var response = Etcdserverpb_DeleteRangeResponse()
        response.deleted = Int64(deleted.count)
        if request.prevKv { response.prevKvs = deleted.compactMap { $0.previous?.message } }
        return response
    }

    private mutating func txn(
        _ request: Etcdserverpb_TxnRequest, at revision: Int64, path: [Bool], position: inout Int, events: inout [Event]
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
                var answer = try self.range(range)
                answer.header.revision = self.revision
                result.response = .responseRange(answer)
            case .requestPut(let put):
                result.response = .responsePut(self.put(put, at: revision, events: &events))
            case .requestDeleteRange(let delete):
                result.response = .responseDeleteRange(self.delete(delete, at: revision, events: &events))
            case .requestTxn(let nested):
                result.response = .responseTxn(try txn(nested, at: revision, path: path, position: &position, events: &events))
            case nil:
                continue
            }
            response.responses.append(result)
        }
        return response
    }

    /// Whether every compare holds now; a compare with a range end must hold for every key in
    /// the range.
    func compares(_ compares: [Etcdserverpb_Compare]) -> Bool {
        compares.allSatisfy { compare in
            let key = Array(compare.key)
            if compare.rangeEnd.isEmpty {
                return Self.holds(compare, current(key))
            }
            let kvs = range(key, Array(compare.rangeEnd), at: revision)
            // No key in the range: compared as an absent key, as etcd does.
            if kvs.isEmpty { return Self.holds(compare, nil) }
            return kvs.allSatisfy { Self.holds(compare, $0) }
        }
    }

    /// One compare against a key's value (nil: absent; then version, create and mod are 0 and
    /// a value compare fails, as in etcd).
    static func holds(_ compare: Etcdserverpb_Compare, _ kv: KeyValue?) -> Bool {
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
