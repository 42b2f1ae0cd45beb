import EtcdAPI
import Foundation
import Synchronization
import Testing

@testable import V3

/// The v3 requests applied to the store, with etcd's answers and errors.
@Suite(.timeLimit(.minutes(3))) struct ApplyTests {
    func putRequest(_ key: String, _ value: String, prevKV: Bool = false) -> Etcdserverpb_PutRequest {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data(value.utf8)
        request.prevKv = prevKV
        return request
    }

    func op(_ put: Etcdserverpb_PutRequest) -> Etcdserverpb_RequestOp {
        var op = Etcdserverpb_RequestOp()
        op.request = .requestPut(put)
        return op
    }

    func compare(_ key: String, _ target: Etcdserverpb_Compare.CompareTarget, _ result: Etcdserverpb_Compare.CompareResult, _ union: Etcdserverpb_Compare.OneOf_TargetUnion) -> Etcdserverpb_Compare {
        var compare = Etcdserverpb_Compare()
        compare.key = Data(key.utf8)
        compare.target = target
        compare.result = result
        compare.targetUnion = union
        return compare
    }

    func applied(_ store: inout MVCCStore, _ request: V3Request) throws -> V3Applier.Applied {
        try store.apply(request).get()
    }

    @Test func putReturnsThePreviousValueWhenAsked() throws {
        var store = MVCCStore()
        _ = try applied(&store, .put(putRequest("k", "1")))
        let second = try applied(&store, .put(putRequest("k", "2", prevKV: true)))
        guard case .put(let response) = second.response else { Issue.record("not a put"); return }
        #expect(response.prevKv.value == Data("1".utf8))
        #expect(second.revision == 3)
        #expect(second.events.count == 1)
    }

    @Test func putChecksComeWithEtcdsErrors() {
        var store = MVCCStore()
        var empty = putRequest("", "v")
        #expect(store.apply(.put(empty)).failure == .emptyKey)
        empty.key = Data("k".utf8)
        empty.ignoreValue = true
        #expect(store.apply(.put(empty)).failure == .valueProvided)
        var ignoring = putRequest("missing", "")
        ignoring.ignoreValue = true
        #expect(store.apply(.put(ignoring)).failure == .keyNotFound)
        var leased = putRequest("k", "v")
        leased.lease = 42
        #expect(store.apply(.put(leased)).failure == .leaseNotFound)
        #expect(store.revision == 1, "failed requests change nothing")
    }

    @Test func ignoreValueKeepsTheValue() throws {
        var store = MVCCStore()
        _ = try applied(&store, .put(putRequest("k", "kept")))
        var request = putRequest("k", "")
        request.ignoreValue = true
        _ = try applied(&store, .put(request))
        #expect(store.current(Array("k".utf8))?.value == Array("kept".utf8))
        #expect(store.current(Array("k".utf8))?.version == 2)
    }

    @Test func ignoreLeaseKeepsTheLeaseAndNeedsALiveKey() throws {
        var store = MVCCStore()
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.id = 5
        grant.ttl = 60
        _ = try applied(&store, .leaseGrant(grant))
        var held = putRequest("k", "1")
        held.lease = 5
        _ = try applied(&store, .put(held))
        var request = putRequest("k", "2")
        request.ignoreLease = true
        _ = try applied(&store, .put(request))
        #expect(store.current(Array("k".utf8))?.lease == 5)
        #expect(store.current(Array("k".utf8))?.value == Array("2".utf8))
        #expect(store.leases[5]?.keys == [Array("k".utf8)])
        var delete = Etcdserverpb_DeleteRangeRequest()
        delete.key = Data("k".utf8)
        _ = try applied(&store, .deleteRange(delete))
        #expect(store.apply(.put(request)).failure == .keyNotFound, "a deleted key is not there to keep a lease of")
    }

    @Test func txnComparesPickABranchAndWritesAtOneRevision() throws {
        var store = MVCCStore()
        _ = try applied(&store, .put(putRequest("k", "v1")))  // rev 2
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [
            compare("k", .value, .equal, .value(Data("v1".utf8))),
            compare("k", .version, .equal, .version(1)),
            compare("k", .create, .equal, .createRevision(2)),
            compare("k", .mod, .less, .modRevision(3)),
            compare("absent", .version, .equal, .version(0)),
        ]
        txn.success = [op(putRequest("a", "1")), op(putRequest("b", "2"))]
        txn.failure = [op(putRequest("failed", "x"))]
        let result = try applied(&store, .txn(txn))
        guard case .txn(let response) = result.response else { Issue.record("not a txn"); return }
        #expect(response.succeeded)
        #expect(response.responses.count == 2)
        #expect(result.revision == 3, "one revision for the whole transaction")
        #expect(store.current(Array("a".utf8))?.modRevision == 3 && store.current(Array("b".utf8))?.modRevision == 3)
        // A value compare on a missing key fails, as in etcd.
        txn.compare = [compare("absent", .value, .equal, .value(Data()))]
        let other = try applied(&store, .txn(txn))
        guard case .txn(let failed) = other.response else { Issue.record("not a txn"); return }
        #expect(!failed.succeeded)
        #expect(store.current(Array("failed".utf8)) != nil)
    }

    @Test("A CORRUPT alarm stops every change but keep-alives and alarms until it is disarmed (etcd's applierV3Corrupt)")
    func corruptAlarmStopsChanges() throws {
        var store = MVCCStore()
        _ = try applied(&store, .put(putRequest("k", "1")))
        var raise = Etcdserverpb_AlarmRequest()
        raise.action = .activate
        raise.memberID = 7
        raise.alarm = .corrupt
        _ = try applied(&store, .alarm(raise))
        #expect(store.apply(.put(putRequest("k", "2"))).failure == .corrupt)
        #expect(store.apply(.deleteRange(.with { $0.key = Data("k".utf8) })).failure == .corrupt)
        #expect(store.apply(.compact(.with { $0.revision = 1 })).failure == .corrupt)
        var disarm = raise
        disarm.action = .deactivate
        _ = try applied(&store, .alarm(disarm))
        _ = try applied(&store, .put(putRequest("k", "2")))
        #expect(store.current(Array("k".utf8))?.value == Array("2".utf8))
    }

    @Test func txnRefusesDuplicates() {
        var store = MVCCStore()
        var txn = Etcdserverpb_TxnRequest()
        txn.success = [op(putRequest("k", "1")), op(putRequest("k", "2"))]
        #expect(store.apply(.txn(txn)).failure == .duplicateKey)
        var delete = Etcdserverpb_RequestOp()
        var range = Etcdserverpb_DeleteRangeRequest()
        range.key = Data("a".utf8)
        range.rangeEnd = Data("z".utf8)
        delete.request = .requestDeleteRange(range)
        txn.success = [op(putRequest("k", "1")), delete]
        #expect(store.apply(.txn(txn)).failure == .duplicateKey)
    }

    @Test func refusedTxnLeavesNoTrace() throws {
        // Writes apply in place, so every refusal must come before the first write: a
        // transaction that puts, then reads a compacted or future revision, changes nothing.
        var store = MVCCStore()
        for value in ["1", "2", "3"] { _ = try applied(&store, .put(putRequest("k", value))) }
        _ = try applied(&store, .compact(.with { $0.revision = 3 }))
        let before = store.encoded()
        for revision: Int64 in [2, 5] {
            var read = Etcdserverpb_RequestOp()
            read.request = .requestRange(.with { $0.key = Data("k".utf8); $0.revision = revision })
            var txn = Etcdserverpb_TxnRequest()
            txn.success = [op(putRequest("new", "v")), read]
            let failure = store.apply(.txn(txn)).failure
            #expect(failure == (revision == 2 ? .compacted : .futureRevision))
            #expect(store.encoded() == before, "revision \(revision): the refused transaction left a write behind")
        }
        var leased = putRequest("other", "v")
        leased.lease = 7
        var txn = Etcdserverpb_TxnRequest()
        txn.success = [op(putRequest("first", "v")), op(leased)]
        #expect(store.apply(.txn(txn)).failure == .leaseNotFound)
        #expect(store.encoded() == before)
    }

    @Test func readOnlyTxnLeavesTheRevision() throws {
        var store = MVCCStore()
        _ = try applied(&store, .put(putRequest("k", "v")))
        var read = Etcdserverpb_RequestOp()
        var range = Etcdserverpb_RangeRequest()
        range.key = Data("k".utf8)
        read.request = .requestRange(range)
        var txn = Etcdserverpb_TxnRequest()
        txn.success = [read]
        let result = try applied(&store, .txn(txn))
        #expect(result.revision == 2)
        guard case .txn(let response) = result.response, case .responseRange(let answer) = response.responses.first?.response else {
            Issue.record("no range answer")
            return
        }
        #expect(answer.kvs.first?.value == Data("v".utf8))
    }

    @Test func rangeSortsLimitsCountsAndFilters() throws {
        var store = MVCCStore()
        for (key, value) in [("a", "3"), ("b", "1"), ("c", "2")] { _ = try applied(&store, .put(putRequest(key, value))) }
        _ = try applied(&store, .put(putRequest("a", "4")))  // a: version 2, mod 5
        var request = Etcdserverpb_RangeRequest()
        request.key = Data("a".utf8)
        request.rangeEnd = Data("z".utf8)
        request.sortTarget = .value
        request.sortOrder = .descend
        request.limit = 2
        let response = try store.range(request)
        #expect(response.kvs.map { String(decoding: $0.key, as: UTF8.self) } == ["a", "c"])
        #expect(response.more && response.count == 3)
        request.sortOrder = .none
        request.sortTarget = .key
        request.limit = 0
        request.minModRevision = 4
        #expect(try store.range(request).kvs.map { String(decoding: $0.key, as: UTF8.self) } == ["c", "a"].sorted())
        request.minModRevision = 0
        request.countOnly = true
        let counted = try store.range(request)
        #expect(counted.kvs.isEmpty && counted.count == 3)
        request.countOnly = false
        request.keysOnly = true
        #expect(try store.range(request).kvs.allSatisfy { $0.value.isEmpty })
        request.revision = 3
        request.keysOnly = false
        #expect(try store.range(request).kvs.map { String(decoding: $0.key, as: UTF8.self) } == ["a", "b"])
        request.revision = 99
        #expect(throws: V3Error.futureRevision) { try store.range(request) }
    }

    @Test("A keys-only range reads no value from the backend, unless it sorts by value; the rest of each KeyValue is the full range's")
    func keysOnlyReadsNoValue() throws {
        var store = MVCCStore()
        let reads = ReadCounter()
        store.backend = CountingBackend(reads: reads)
        for (key, value) in [("a", "3"), ("b", "1"), ("c", "2")] { _ = try applied(&store, .put(putRequest(key, value))) }
        _ = try applied(&store, .put(putRequest("a", "4")))
        var request = Etcdserverpb_RangeRequest()
        request.key = Data("a".utf8)
        request.rangeEnd = Data("z".utf8)
        reads.reset()  // the overwrite read the value it replaced (`eventsCarryPrevious`)
        let full = try store.range(request)
        #expect(reads.count == 3, "a full range reads each live value once")
        var stripped = full.kvs
        for i in stripped.indices { stripped[i].value = Data() }
        request.keysOnly = true
        reads.reset()
        #expect(try store.range(request).kvs == stripped)
        request.limit = 2
        #expect(try store.range(request).kvs == Array(stripped.prefix(2)))
        request.limit = 0
        request.sortTarget = .mod
        request.sortOrder = .descend
        #expect(try store.range(request).kvs.map { String(decoding: $0.key, as: UTF8.self) } == ["a", "c", "b"])
        #expect(reads.count == 0, "keys only: the index answers")
        request.sortTarget = .value
        let byValue = try store.range(request)
        #expect(byValue.kvs.map { String(decoding: $0.key, as: UTF8.self) } == ["a", "c", "b"])
        #expect(byValue.kvs.allSatisfy { $0.value.isEmpty })
        #expect(reads.count == 3, "sorting by value needs the values, dropped afterwards as etcd does")
        // `etcdctl get '' --prefix --keys-only`, as it arrives: every key, keys only.
        let fromEtcdctl = try Etcdserverpb_RangeRequest(serializedBytes: [0x0A, 0x01, 0x00, 0x12, 0x01, 0x00, 0x40, 0x01] as [UInt8])
        reads.reset()
        #expect(try store.range(fromEtcdctl).kvs == stripped)
        #expect(reads.count == 0)
    }

    /// How many values a backend was asked for.
    final class ReadCounter: Sendable {
        private let reads = Atomic<Int>(0)
        var count: Int { reads.load(ordering: .relaxed) }
        func reset() { reads.store(0, ordering: .relaxed) }
        func add() { reads.add(1, ordering: .relaxed) }
    }

    /// The in-memory backend, counting the values read from it.
    struct CountingBackend: MVCCBackend {
        var inner = MemoryBackend()
        let reads: ReadCounter
        mutating func insert(_ change: BackendChange) -> Int64 { inner.insert(change) }
        func value(_ row: Int64) -> [UInt8] {
            reads.add()
            return inner.value(row)
        }
        mutating func remove(_ rows: [Int64]) { inner.remove(rows) }
        mutating func saveLease(_ id: Int64, ttl: Int64) {}
        mutating func removeLease(_ id: Int64) {}
        mutating func saveAlarms(_ alarms: [MVCCStore.Alarm]) {}
        mutating func saveAuth(_ state: [UInt8]) {}
        mutating func commit(_ counters: BackendCounters) {}
        var fileSizes: (total: Int, inUse: Int)? { nil }
    }

    @Test func requestsSurviveTheLogEncoding() throws {
        var txn = Etcdserverpb_TxnRequest()
        txn.success = [op(putRequest("k", "v"))]
        for request in [V3Request.put(putRequest("k", "v")), .txn(txn)] {
            #expect(try V3Request(encoded: request.encoded()) == request)
        }
        #expect(throws: (any Error).self) { try V3Request(encoded: [9, 1, 2]) }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
