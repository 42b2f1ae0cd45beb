import EtcdAPI
import Foundation
import Synchronization
import Testing

@testable import V3

/// A put reads the value it replaces only when someone asked for it: a watcher with prev_kv,
/// or the put itself (as etcd reads it). With a file, that read is a lookup in it per overwrite.
@Suite("Previous values, read only when asked for")
struct PreviousValueTests {
    func put(_ key: String, _ value: String, lease: Int64 = 0, prevKv: Bool = false) -> V3Request {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data(value.utf8)
        request.lease = lease
        request.prevKv = prevKv
        return .put(request)
    }

    /// The previous values a watcher was sent (nil where an event came without one).
    final class Seen: Sendable {
        let values = Mutex<[String?]>([])
    }

    func watcher(prevKV: Bool, seen: Seen) -> WatcherSet.Watcher {
        WatcherSet.Watcher(
            key: Array("k".utf8), end: [], noPut: false, noDelete: false, prevKV: prevKV, minRevision: 0,
            send: { delivery in
                if case .events(let events, _) = delivery {
                    seen.values.withLock { $0 += events.map { $0.previous.map { String(decoding: $0.value, as: UTF8.self) } } }
                }
                return true
            })
    }

    func applied(_ machine: V3StateMachine, _ request: V3Request, at index: UInt64) throws -> V3Applier.Applied {
        try machine.apply(request, at: index).get()
    }

    @Test("Without the previous value, an overwrite is still numbered from the old one, and leaves its old lease")
    func theStampNumbersTheWrite() {
        var store = MVCCStore()
        store.eventsCarryPrevious = false
        store.leases[5] = MVCCStore.Lease(ttl: 10)
        store.put(Array("k".utf8), Array("1".utf8), lease: 5, at: store.nextRevision)
        #expect(store.leases[5]?.keys.contains(Array("k".utf8)) == true)
        let event = store.put(Array("k".utf8), Array("2".utf8), lease: 0, at: store.nextRevision)
        #expect(event.previous == nil)
        #expect(event.kv.version == 2 && event.kv.createRevision == 2 && event.kv.modRevision == 3)
        #expect(store.leases[5]?.keys.contains(Array("k".utf8)) == false)
        let asked = store.put(Array("k".utf8), Array("3".utf8), lease: 0, at: store.nextRevision, readingPrevious: true)
        #expect(asked.previous?.value == Array("2".utf8) && asked.previous?.version == 2)
    }

    @Test("Without the values, a delete still finds every live key in its range, and takes them off their leases")
    func aDeleteNeedsOnlyTheIndex() {
        var store = MVCCStore()
        store.eventsCarryPrevious = false
        store.leases[5] = MVCCStore.Lease(ttl: 10)
        store.put(Array("a".utf8), Array("1".utf8), lease: 5, at: store.nextRevision)
        store.put(Array("b".utf8), Array("2".utf8), lease: 0, at: store.nextRevision)
        _ = store.deleteRange(Array("b".utf8), [], at: store.nextRevision)
        store.put(Array("c".utf8), Array("3".utf8), lease: 0, at: store.nextRevision)
        let deleted = store.deleteRange(Array("a".utf8), Array("z".utf8), at: store.nextRevision)
        #expect(deleted.map { String(decoding: $0.kv.key, as: UTF8.self) } == ["a", "c"])
        #expect(deleted.allSatisfy { $0.previous == nil && $0.kind == .delete && $0.kv.modRevision == 6 })
        #expect(store.leases[5]?.keys.isEmpty == true)
        store.put(Array("d".utf8), Array("4".utf8), lease: 0, at: store.nextRevision)
        let asked = store.deleteRange(Array("d".utf8), [], at: store.nextRevision, readingPrevious: true)
        #expect(asked.first?.previous?.value == Array("4".utf8))
    }

    @Test("The machine reads previous values while a prev_kv watcher is registered, and only then")
    func onlyWhileAWatcherWantsThem() throws {
        let machine = V3StateMachine()
        _ = try applied(machine, put("k", "1"), at: 1)
        #expect(try applied(machine, put("k", "2"), at: 2).events.first?.previous == nil)

        let withPrevious = Seen(), without = Seen()
        guard case (.started(let token), _) = machine.watch(watcher(prevKV: true, seen: withPrevious), from: 0) else {
            Issue.record("not started")
            return
        }
        _ = machine.watch(watcher(prevKV: false, seen: without), from: 0)
        #expect(try applied(machine, put("k", "3"), at: 3).events.first?.previous?.value == Array("2".utf8))
        #expect(withPrevious.values.withLock { $0 } == ["2"])
        #expect(without.values.withLock { $0 } == [nil])

        machine.unwatch(token)
        #expect(try applied(machine, put("k", "4"), at: 4).events.first?.previous == nil)
        #expect(without.values.withLock { $0 } == [nil, nil])
    }

    @Test("A watcher registered after writes made without previous values gets them from history")
    func historyHasThem() throws {
        let machine = V3StateMachine()
        _ = try applied(machine, put("k", "1"), at: 1)
        _ = try applied(machine, put("k", "2"), at: 2)
        let seen = Seen()
        _ = machine.watch(watcher(prevKV: true, seen: seen), from: 3)
        #expect(seen.values.withLock { $0 } == ["1"])
    }

    @Test("Values are read while any prev_kv watcher remains: one of two leaving, or one dropped by a compaction")
    func theCountFollowsEveryWayOut() throws {
        let machine = V3StateMachine()
        _ = try applied(machine, put("k", "1"), at: 1)
        let first = Seen(), second = Seen()
        guard case (.started(let one), _) = machine.watch(watcher(prevKV: true, seen: first), from: 0),
            case (.started(let two), _) = machine.watch(watcher(prevKV: true, seen: second), from: 0)
        else {
            Issue.record("not started")
            return
        }
        machine.unwatch(one)
        #expect(try applied(machine, put("k", "2"), at: 2).events.first?.previous?.value == Array("1".utf8))
        machine.unwatch(two)
        // A slow prev_kv watcher: set aside at its first change, then compacted past.
        var slow = watcher(prevKV: true, seen: Seen())
        slow.send = { _ in false }
        guard case (.started(let stuck), _) = machine.watch(slow, from: 0) else {
            Issue.record("not started")
            return
        }
        #expect(try applied(machine, put("k", "3"), at: 3).events.first?.previous?.value == Array("2".utf8))
        #expect(try applied(machine, put("k", "4"), at: 4).events.first?.previous?.value == Array("3".utf8))
        // Its first missed change (revision 4) is compacted away: it is told so, and dropped.
        var compaction = Etcdserverpb_CompactionRequest()
        compaction.revision = 5
        _ = try applied(machine, .compact(compaction), at: 5)
        machine.retryBlockedWatchers([stuck])
        #expect(try applied(machine, put("k", "5"), at: 6).events.first?.previous == nil)
    }

    @Test("A prev_kv watcher gets the values of keys deleted with their lease")
    func aRevokedLeaseShowsWhatItDeleted() throws {
        let machine = V3StateMachine()
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.id = 7
        grant.ttl = 60
        _ = try applied(machine, .leaseGrant(grant), at: 1)
        _ = try applied(machine, put("k", "held", lease: 7), at: 2)
        let seen = Seen()
        _ = machine.watch(watcher(prevKV: true, seen: seen), from: 0)
        var revoke = Etcdserverpb_LeaseRevokeRequest()
        revoke.id = 7
        _ = try applied(machine, .leaseRevoke(revoke), at: 3)
        #expect(seen.values.withLock { $0 } == ["held"])
    }

    @Test("Inside a transaction, a put and a delete that ask for prev_kv get them with no watcher registered")
    func aTransactionAskingGetsThem() throws {
        let machine = V3StateMachine()
        _ = try applied(machine, put("a", "1"), at: 1)
        _ = try applied(machine, put("b", "2"), at: 2)
        var overwrite = Etcdserverpb_RequestOp()
        guard case .put(let putRequest) = put("a", "3", prevKv: true) else { return }
        overwrite.requestPut = putRequest
        var delete = Etcdserverpb_RequestOp()
        delete.requestDeleteRange.key = Data("b".utf8)
        delete.requestDeleteRange.prevKv = true
        var txn = Etcdserverpb_TxnRequest()
        txn.success = [overwrite, delete]
        guard case .txn(let response) = try applied(machine, .txn(txn), at: 3).response else {
            Issue.record("not a txn response")
            return
        }
        #expect(response.responses.first?.responsePut.prevKv.value == Data("1".utf8))
        #expect(response.responses.last?.responseDeleteRange.prevKvs.first?.value == Data("2".utf8))
    }

    @Test("A delete that asks for prev_kv gets them with no watcher registered")
    func aDeleteAskingForThemGetsThem() throws {
        let machine = V3StateMachine()
        _ = try applied(machine, put("k1", "1"), at: 1)
        _ = try applied(machine, put("k2", "2"), at: 2)
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = Data("k".utf8)
        request.rangeEnd = Data("l".utf8)
        request.prevKv = true
        guard case .deleteRange(let response) = try applied(machine, .deleteRange(request), at: 3).response else {
            Issue.record("not a delete response")
            return
        }
        #expect(response.deleted == 2)
        #expect(response.prevKvs.map { String(decoding: $0.value, as: UTF8.self) } == ["1", "2"])
    }

    @Test("A put that asks for prev_kv gets it with no watcher registered")
    func aPutAskingForItGetsIt() throws {
        let machine = V3StateMachine()
        _ = try applied(machine, put("k", "1"), at: 1)
        guard case .put(let response) = try applied(machine, put("k", "2", prevKv: true), at: 2).response else {
            Issue.record("not a put response")
            return
        }
        #expect(response.prevKv.value == Data("1".utf8))
        #expect(response.prevKv.version == 1)
    }
}
