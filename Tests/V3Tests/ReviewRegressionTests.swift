import EtcdAPI
import Foundation
import Synchronization
import Testing

@testable import V3

/// Regressions found in review, each checked to fail before its fix.
@Suite(.timeLimit(.minutes(3))) struct ReviewRegressionTests {
    func put(_ key: String, _ value: String, lease: Int64 = 0) -> Etcdserverpb_RequestOp {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data(value.utf8)
        request.lease = lease
        var op = Etcdserverpb_RequestOp()
        op.request = .requestPut(request)
        return op
    }

    func nested(_ txn: Etcdserverpb_TxnRequest) -> Etcdserverpb_RequestOp {
        var op = Etcdserverpb_RequestOp()
        op.request = .requestTxn(txn)
        return op
    }

    func versionAbove(_ key: String, _ version: Int64, end: String = "") -> Etcdserverpb_Compare {
        var compare = Etcdserverpb_Compare()
        compare.key = Data(key.utf8)
        compare.rangeEnd = Data(end.utf8)
        compare.target = .version
        compare.result = .greater
        compare.targetUnion = .version(version)
        return compare
    }

    @Test func aTransactionThatFailsHalfwayLeavesNoTrace() {
        var store = MVCCStore()
        var range = Etcdserverpb_RangeRequest()
        range.key = Data("b".utf8)
        range.revision = 100
        var read = Etcdserverpb_RequestOp()
        read.request = .requestRange(range)
        var txn = Etcdserverpb_TxnRequest()
        txn.success = [put("a", "1"), read]
        #expect(store.apply(.txn(txn)).failure == .futureRevision)
        #expect(store.revision == 1)
        #expect(store.current(Array("a".utf8)) == nil)
    }

    @Test func nestedBranchesAreDecidedBeforeAnyWrite() throws {
        var store = MVCCStore()
        var inner = Etcdserverpb_TxnRequest()
        inner.compare = [versionAbove("k", 0)]  // false before the outer put, true after it
        inner.success = [put("j", "v", lease: 999)]  // would fail: no lease 999
        inner.failure = [put("f", "1")]
        var outer = Etcdserverpb_TxnRequest()
        outer.success = [put("k", "x"), nested(inner)]
        let applied = try store.apply(.txn(outer)).get()
        guard case .txn(let response) = applied.response, case .responseTxn(let innerResponse) = response.responses.last?.response else {
            Issue.record("no nested response")
            return
        }
        #expect(!innerResponse.succeeded, "etcd judges the nested compare before the outer put")
        #expect(store.current(Array("f".utf8)) != nil && store.current(Array("j".utf8)) == nil)
    }

    @Test func aCompareOverAnEmptyRangeIsAComparisonWithAnAbsentKey() {
        let store = MVCCStore()
        #expect(!V3Applier.compares([versionAbove("a", 0, end: "b")], in: store))
    }

    func delete(_ key: String, end: String = "") -> Etcdserverpb_RequestOp {
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = Data(key.utf8)
        request.rangeEnd = Data(end.utf8)
        var op = Etcdserverpb_RequestOp()
        op.request = .requestDeleteRange(request)
        return op
    }

    func txn(_ success: [Etcdserverpb_RequestOp], _ failure: [Etcdserverpb_RequestOp] = []) -> Etcdserverpb_TxnRequest {
        var txn = Etcdserverpb_TxnRequest()
        txn.success = success
        txn.failure = failure
        return txn
    }

    /// etcd's checkIntervals: a delete and a put of one key in one transaction are refused,
    /// wherever they sit in the nesting (the issue found them accepted across levels).
    @Test func putsAndDeletesOfOneKeyAcrossNestedTransactionsAreRefused() {
        var store = MVCCStore()
        store.put(Array("k".utf8), Array("old".utf8), lease: 0, at: store.nextRevision)
        let refused: [Etcdserverpb_TxnRequest] = [
            txn([delete("k"), put("k", "new")]),
            txn([delete("k"), nested(txn([put("k", "new")]))]),
            txn([nested(txn([delete("k")])), put("k", "new")]),
            txn([put("k", "1"), nested(txn([put("k", "2")]))]),
            txn([nested(txn([delete("a", end: "m")])), put("b", "1")]),
            txn([nested(txn([], [put("k", "1")])), nested(txn([put("k", "2")]))]),
        ]
        for request in refused {
            #expect(store.apply(.txn(request)).failure == V3Error.duplicateKey)
        }
        #expect(store.revision == 2)  // nothing applied
        let allowed: [Etcdserverpb_TxnRequest] = [
            // Only one of a nested transaction's branches runs.
            txn([nested(txn([put("k", "then")], [put("k", "else")]))]),
            // Only one of the top-level branches runs.
            txn([put("k", "1")], [put("k", "2")]),
            txn([delete("a", end: "c"), put("c", "1")]),
        ]
        for request in allowed {
            #expect(store.apply(.txn(request)).failure == nil)
        }
    }

    /// Below the API, a key changed twice at one revision keeps both records, ordered: reads
    /// see the last, history (watches) sees both.
    @Test func aDeleteThenAPutOfOneKeyAtOneRevisionKeepsBothChanges() {
        var store = MVCCStore()
        store.put(Array("k".utf8), Array("old".utf8), lease: 0, at: store.nextRevision)
        let revision = store.nextRevision
        _ = store.deleteRange(Array("k".utf8), [], at: revision)
        store.put(Array("k".utf8), Array("new".utf8), lease: 0, at: revision)
        let now = store.current(Array("k".utf8))
        #expect(now?.value == Array("new".utf8) && now?.version == 1 && now?.createRevision == 3)
        #expect(store.changes(Array("k".utf8), [], after: 2).map(\.kind) == [.delete, .put])
    }

    @Test func watchersCarryOnAcrossASnapshotInstall() throws {
        let machine = V3StateMachine()
        let seen = Mutex<[String]>([])
        let watcher = WatcherSet.Watcher(
            key: Array("w".utf8), end: Array("x".utf8), noPut: false, noDelete: false, prevKV: false, minRevision: 2,
            send: { delivery in
                if case .events(let events, _) = delivery {
                    seen.withLock { $0 += events.map { String(decoding: $0.kv.value, as: UTF8.self) } }
                }
                return true
            })
        _ = machine.watch(watcher, from: 2)
        _ = machine.apply(V3Request.txn({ var t = Etcdserverpb_TxnRequest(); t.success = [put("w1", "a")]; return t }()), at: 1)
        // The leader's store moved on; this member installs its snapshot.
        var ahead = MVCCStore()
        ahead.put(Array("w1".utf8), Array("a".utf8), lease: 0, at: 2)
        ahead.put(Array("w2".utf8), Array("b".utf8), lease: 0, at: 3)
        ahead.put(Array("w3".utf8), Array("c".utf8), lease: 0, at: 4)
        try machine.restore(from: ahead.encoded(), at: 4)
        #expect(seen.withLock { $0 } == ["a", "b", "c"], "each change once, in order, none lost across the install")
    }

    @Test func aKeepAliveAfterTheRevocationWasProposedGetsTTLZero() throws {
        let machine = V3StateMachine()
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.id = 5
        grant.ttl = 1
        _ = machine.apply(V3Request.leaseGrant(grant), at: 1)
        machine.leadershipChanged(isLeader: true)
        // Pretend the lease ran out and the leader proposed its revocation.
        machine.state.withLock { $0.lessor.expiries[5] = ContinuousClock.now - .seconds(1) }
        #expect(machine.dueLeases() == [5])
        var renew = Etcdserverpb_LeaseKeepAliveRequest()
        renew.id = 5
        let result = machine.apply(V3Request.leaseRenew(renew), at: 2)
        guard case .success(let applied) = result, case .leaseRenew(_, let ttl) = applied.response else {
            Issue.record("no renew answer")
            return
        }
        #expect(ttl == 0)
    }

    /// A slow client: its outbox refuses, the watcher is set aside at the first change it
    /// missed, and once there is room it gets the rest from history, each change once, in order.
    @Test func aWatcherWhoseOutboxIsFullCatchesUpFromHistoryWithoutGapsOrRepeats() throws {
        let machine = V3StateMachine()
        let seen = Mutex<(values: [String], room: Int)>(([], 2))
        let watcher = WatcherSet.Watcher(
            key: Array("w".utf8), end: Array("x".utf8), noPut: false, noDelete: false, prevKV: false, minRevision: 2,
            send: { delivery in
                seen.withLock { seen in
                    guard seen.room > 0 else { return false }
                    seen.room -= 1
                    if case .events(let events, _) = delivery { seen.values += events.map { String(decoding: $0.kv.value, as: UTF8.self) } }
                    return true
                }
            })
        guard case (.started(let token), _) = machine.watch(watcher, from: 0) else { Issue.record("not started"); return }
        for (index, value) in ["a", "b", "c", "d", "e"].enumerated() {
            _ = machine.apply(V3Request.put({ var p = Etcdserverpb_PutRequest(); p.key = Data("w\(index)".utf8); p.value = Data(value.utf8); return p }()), at: UInt64(index + 1))
        }
        #expect(seen.withLock { $0.values } == ["a", "b"])  // the outbox took two, then refused
        // Set aside, it is not "synced": no progress notification may claim it saw revision 6.
        #expect(machine.syncedWatchers([token]).0.isEmpty)
        seen.withLock { $0.room = 100 }
        machine.retryBlockedWatchers([token])
        // The missed changes come from history in one batch; then it is live again.
        _ = machine.apply(V3Request.put({ var p = Etcdserverpb_PutRequest(); p.key = Data("w9".utf8); p.value = Data("f".utf8); return p }()), at: 6)
        #expect(seen.withLock { $0.values } == ["a", "b", "c", "d", "e", "f"])
        #expect(machine.syncedWatchers([token]).0 == [token])
    }

    /// A watcher set aside past a compaction of what it missed is cancelled, as etcd does.
    @Test func aBlockedWatcherWhoseHistoryWasCompactedIsCancelled() throws {
        let machine = V3StateMachine()
        let outcome = Mutex<(room: Int, cancelled: Int64?)>((0, nil))
        let watcher = WatcherSet.Watcher(
            key: Array("w".utf8), end: Array("x".utf8), noPut: false, noDelete: false, prevKV: false, minRevision: 2,
            send: { delivery in
                outcome.withLock { outcome in
                    if case .compacted(let revision, _) = delivery { outcome.cancelled = revision; return true }
                    guard outcome.room > 0 else { return false }
                    outcome.room -= 1
                    return true
                }
            })
        guard case (.started(let token), _) = machine.watch(watcher, from: 0) else { Issue.record("not started"); return }
        for index in 0..<4 {
            _ = machine.apply(V3Request.put({ var p = Etcdserverpb_PutRequest(); p.key = Data("w\(index)".utf8); p.value = Data("v".utf8); return p }()), at: UInt64(index + 1))
        }
        _ = machine.apply(V3Request.compact({ var c = Etcdserverpb_CompactionRequest(); c.revision = 4; return c }()), at: 5)
        machine.retryBlockedWatchers([token])
        #expect(outcome.withLock { $0.cancelled } == 4)
    }
}
