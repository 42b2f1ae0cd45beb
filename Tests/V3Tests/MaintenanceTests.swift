import Crypto
import EtcdAPI
import Foundation
import Testing

@testable import V3

/// What Stage 4 part 2 adds to the store: the hashes replicas compare, the size the quota
/// counts, and alarms, all replicated like any write.
@Suite(.timeLimit(.minutes(3))) struct MaintenanceTests {
    func put(_ key: String, _ value: String) -> V3Request {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data(value.utf8)
        return .put(request)
    }

    func delete(_ key: String) -> V3Request {
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = Data(key.utf8)
        return .deleteRange(request)
    }

    func alarm(_ action: Etcdserverpb_AlarmRequest.AlarmAction, member: UInt64 = 7) -> V3Request {
        var request = Etcdserverpb_AlarmRequest()
        request.action = action
        request.memberID = member
        request.alarm = .nospace
        return .alarm(request)
    }

    func store(_ requests: [V3Request]) -> MVCCStore {
        var store = MVCCStore()
        for request in requests { _ = store.apply(request) }
        return store
    }

    @Test func hashKVAgreesOnEqualHistoriesAndTellsDifferentOnesApart() {
        let writes = [put("a", "1"), put("b", "2"), delete("a"), put("a", "3")]
        let one = store(writes), two = store(writes)
        #expect(one.hashKV(at: one.revision) == two.hashKV(at: two.revision))
        // Same keys and values at the end, another history: a replica that skipped a write.
        let other = store([put("b", "2"), put("a", "3")])
        #expect(other.hashKV(at: other.revision) != one.hashKV(at: one.revision))
        // A value differing in one byte.
        let changed = store([put("a", "1"), put("b", "2"), delete("a"), put("a", "4")])
        #expect(changed.hashKV(at: changed.revision) != one.hashKV(at: one.revision))
        // At an earlier revision only the records up to it count.
        #expect(one.hashKV(at: 3) == store([put("a", "1"), put("b", "2")]).hashKV(at: 3))
        // The whole-store hash moves with any change.
        #expect(one.hash == two.hash)
        #expect(one.hash != changed.hash)
    }

    @Test func sizeInUseGrowsWithHistoryAndShrinksWithCompaction() throws {
        var store = MVCCStore()
        #expect(store.sizeInUse == 0)
        _ = store.apply(put("key", String(repeating: "x", count: 1000)))
        let one = store.sizeInUse
        #expect(one >= 1003)
        _ = store.apply(put("key", String(repeating: "y", count: 1000)))
        #expect(store.sizeInUse >= 2 * one - 1)
        try store.compact(store.revision)
        #expect(store.sizeInUse == one)
        // A snapshot brings back the same figure.
        #expect(try MVCCStore(encoded: store.encoded()).sizeInUse == store.sizeInUse)
    }

    @Test func noSpaceRefusesWhatAddsDataUntilDisarmed() throws {
        var store = MVCCStore()
        _ = store.apply(put("a", "1"))
        guard case .alarm(let raised) = try store.apply(alarm(.activate)).get().response else { Issue.record("not an alarm answer"); return }
        #expect(raised.alarms.map(\.memberID) == [7])
        #expect(store.apply(put("b", "2")).failure == V3Error.noSpace)
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.id = 1
        grant.ttl = 10
        #expect(store.apply(.leaseGrant(grant)).failure == V3Error.noSpace)
        var txn = Etcdserverpb_TxnRequest()
        var nested = Etcdserverpb_TxnRequest()
        var op = Etcdserverpb_RequestOp()
        guard case .put(let inner) = put("c", "3") else { return }
        op.request = .requestPut(inner)
        nested.success = [op]
        var outer = Etcdserverpb_RequestOp()
        outer.request = .requestTxn(nested)
        txn.success = [outer]
        #expect(store.apply(.txn(txn)).failure == V3Error.noSpace)
        // Making room is allowed.
        #expect(store.apply(delete("a")).failure == nil)
        // The alarm travels in snapshots.
        #expect(try MVCCStore(encoded: store.encoded()).alarms == store.alarms)
        guard case .alarm(let cleared) = try store.apply(alarm(.deactivate)).get().response else { Issue.record("not an alarm answer"); return }
        #expect(cleared.alarms.count == 1)
        #expect(store.alarms.isEmpty)
        #expect(store.apply(put("b", "2")).failure == nil)
    }

    @Test func aSavedSnapshotIsBlocksThenItsChecksumAndDamageIsCaught() throws {
        let backup = Array("etcd-swift-backup/2\nnot really, but any bytes do".utf8)
        let padded = backup + [UInt8](repeating: 0, count: SnapshotFile.padding(after: UInt64(backup.count)))
        #expect(padded.count % 512 == 0)
        let file = padded + Array(SHA256.hash(data: padded))
        // What etcdctl checks before it says "Snapshot saved".
        #expect(file.count % 512 == 32)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("snapshot-file-\(UInt64.random(in: 1...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func verify(_ bytes: [UInt8]) throws -> UInt64 {
            let path = directory.appendingPathComponent("saved.db").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            // Small pieces, so the hash is proven to run across them.
            return try SnapshotFile.verify(path, pieceSize: 7)
        }
        #expect(try verify(file) == UInt64(padded.count))
        var flipped = file
        flipped[3] ^= 1
        #expect(throws: SnapshotFile.DamagedError.self) { try verify(flipped) }
        #expect(throws: SnapshotFile.DamagedError.self) { try verify(Array(file.dropLast())) }
        #expect(throws: SnapshotFile.DamagedError.self) { try verify(Array(file.prefix(20))) }
    }

    @Test func requestsThatAddDataAreTheOnesTheQuotaCounts() {
        #expect(put("a", "1").addsData)
        #expect(!delete("a").addsData)
        #expect(!alarm(.deactivate).addsData)
    }
}
