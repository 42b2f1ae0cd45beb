import EtcdAPI
import Foundation
import RaftCore
import Testing

@testable import V3

/// The store alone: revisions, versions, history, ranges, deletes and compaction, as etcd's
/// MVCC defines them.
@Suite(.timeLimit(.minutes(3))) struct MVCCStoreTests {
    func put(_ store: inout MVCCStore, _ key: String, _ value: String, lease: Int64 = 0) {
        store.put(Array(key.utf8), Array(value.utf8), lease: lease, at: store.nextRevision)
    }

    func text(_ kvs: [MVCCStore.KeyValue]) -> [String] {
        kvs.map { "\(String(decoding: $0.key, as: UTF8.self))=\(String(decoding: $0.value, as: UTF8.self))@\($0.modRevision)" }
    }

    @Test func revisionsVersionsAndCreateRevisions() {
        var store = MVCCStore()
        #expect(store.revision == 1)  // an empty etcd reports revision 1
        put(&store, "a", "1")
        put(&store, "a", "2")
        put(&store, "b", "x")
        let a = store.current(Array("a".utf8))!
        #expect((a.createRevision, a.modRevision, a.version) == (2, 3, 2))
        #expect(store.revision == 4)
        // A delete resets the version; the next put creates the key anew.
        _ = store.deleteRange(Array("a".utf8), [], at: store.nextRevision)
        put(&store, "a", "3")
        let again = store.current(Array("a".utf8))!
        #expect((again.createRevision, again.modRevision, again.version) == (6, 6, 1))
    }

    @Test func readsAtPastRevisionsSeeThePast() throws {
        var store = MVCCStore()
        put(&store, "k", "old")  // 2
        put(&store, "k", "new")  // 3
        _ = store.deleteRange(Array("k".utf8), [], at: store.nextRevision)  // 4
        #expect(text(store.range(Array("k".utf8), [], at: 2)) == ["k=old@2"])
        #expect(text(store.range(Array("k".utf8), [], at: 3)) == ["k=new@3"])
        #expect(store.range(Array("k".utf8), [], at: 4).isEmpty)
        #expect(throws: MVCCStore.ReadError.futureRevision) { try store.readRevision(5) }
    }

    @Test func rangesFollowByteOrderAndTheirEndConventions() {
        var store = MVCCStore()
        for key in ["b", "a", "c/2", "c/1", "c", "d", "\u{7f}", "é"] { put(&store, key, key) }
        let all = store.range([0], [0], at: store.revision).map { String(decoding: $0.key, as: UTF8.self) }
        #expect(all == ["a", "b", "c", "c/1", "c/2", "d", "\u{7f}", "é"])  // bytes, not Unicode order
        let prefix = store.range(Array("c/".utf8), Array("c0".utf8), at: store.revision).map { String(decoding: $0.key, as: UTF8.self) }
        #expect(prefix == ["c/1", "c/2"])
        let fromC = store.range(Array("c".utf8), [0], at: store.revision).count
        #expect(fromC == 6)
        #expect(store.count(Array("a".utf8), Array("c".utf8), at: store.revision) == 2)
    }

    @Test func manyKeysStayOrderedAcrossChunks() {
        var store = MVCCStore()
        var generator = SystemRandomNumberGenerator()
        var keys = Set<String>()
        for _ in 0..<3000 {
            let key = String(UInt32.random(in: 0...UInt32.max, using: &generator), radix: 36)
            keys.insert(key)
            put(&store, key, "v")
        }
        let listed = store.range([0], [0], at: store.revision).map { String(decoding: $0.key, as: UTF8.self) }
        #expect(listed == keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        for key in keys.prefix(1000) { _ = store.deleteRange(Array(key.utf8), [], at: store.nextRevision) }
        #expect(store.count([0], [0], at: store.revision) == keys.count - 1000)
    }

    /// Raw bytes, not text: 0x00 and 0xFF, and keys that are prefixes of others, ordered as Go
    /// orders []byte, in the comparison and in the index built on it.
    @Test func keysOfAnyBytesKeepGosOrder() {
        var random = SeededRandom(seed: 19)
        var keys: [[UInt8]] = [[], [0], [0, 0], [0xFF], [0xFF, 0], [1, 0xFF], [1]]
        // Enough distinct keys (about 900 of 1,555 possible) to fill several of the index's chunks.
        for _ in 0..<4000 {
            let length = Int(random.next() % 5)
            keys.append((0..<length).map { _ in [0, 1, 0x7F, 0x80, 0xFE, 0xFF][Int(random.next() % 6)] })
        }
        for (a, b) in zip(keys, keys.reversed()) {
            #expect(OrderedIndex<Int>.less(a, b) == a.lexicographicallyPrecedes(b), "\(a) < \(b)")
        }
        var index = OrderedIndex<Int>()
        for (position, key) in keys.enumerated() { index[key] = position }
        var listed: [[UInt8]] = []
        index.forEach(from: [], below: nil) { key, _ in
            listed.append(key)
            return true
        }
        let expected = Array(Set(keys)).sorted { $0.lexicographicallyPrecedes($1) }
        #expect(expected.count > 512, "more keys than one chunk holds")
        #expect(listed == expected)
        #expect(index.count == expected.count)
        let removed = expected.count / 2
        for key in expected.prefix(removed) { index[key] = nil }
        #expect(index.count == expected.count - removed)
        #expect(index[expected[removed]] != nil && index[expected[0]] == nil)
    }

    /// The index against a dictionary: random puts (through a place found once, as the store's
    /// puts do), removals, the greatest key removed and re-added, compactions, and every few
    /// batches a whole band of keys removed or compacted away, which empties chunks. After each
    /// batch the structure's invariants must hold (each chunk's last key recorded exactly) and
    /// every key's lookup and ranges from several starts must agree with the dictionary. Seen
    /// failing with a split that left the lower chunk's last key as the upper's, and with a
    /// removal that left a chunk's last key stale.
    @Test func theIndexAgreesWithADictionary() {
        var random = SeededRandom(seed: 7)
        var index = OrderedIndex<Int>()
        var model: [[UInt8]: Int] = [:]
        func key() -> [UInt8] { [UInt8(random.next() % 40), UInt8(random.next() % 100)] }
        var most = 0
        for batch in 0..<40 {
            for step in 0..<400 {
                let k = key()
                switch random.next() % 10 {
                case 0..<6:
                    let place = index.place(of: k)
                    #expect(place.found == (model[k] != nil))
                    #expect(index.value(at: place) == model[k])
                    index.modify(at: place, k, initial: 0) { $0 += step + 1 }
                    model[k, default: 0] += step + 1
                case 6..<9:
                    index[k] = nil
                    model[k] = nil
                default:
                    // The greatest key, often the last of the last chunk: removed and re-added.
                    if let last = model.keys.max(by: { $0.lexicographicallyPrecedes($1) }) {
                        index[last] = nil
                        model[last] = nil
                        index[last + [0]] = batch
                        model[last + [0]] = batch
                    }
                }
            }
            // A band of first bytes wider than a chunk (16 of 40, about 800 keys), gone at once:
            // by removals (chunk ends and whole chunks in the middle of the index), or by a
            // compaction.
            let band = UInt8(batch % 24)..<UInt8(batch % 24 + 16)
            if batch % 10 == 4 {
                for k in model.keys where band.contains(k[0]) { index[k] = nil }
                model = model.filter { !band.contains($0.key[0]) }
            } else if batch % 10 == 9 {
                index.compactMap { key, value in band.contains(key[0]) || key[0] % 3 == 0 ? nil : value }
                model = model.filter { !band.contains($0.key[0]) && $0.key[0] % 3 != 0 }
            }
            most = max(most, model.count)
            let sound = index.checkInvariants()  // a Bool, so a failure does not print the index
            #expect(sound, "the index's invariants after batch \(batch)")
            let sorted = model.keys.sorted { $0.lexicographicallyPrecedes($1) }
            #expect(index.count == model.count)
            for start in [[], [5], [20, 25], [39, 49], [40]] as [[UInt8]] {
                var listed: [[UInt8]] = []
                index.forEach(from: start, below: nil) { key, value in
                    #expect(model[key] == value)
                    listed.append(key)
                    return true
                }
                #expect(listed == sorted.filter { !$0.lexicographicallyPrecedes(start) }, "from \(start) after batch \(batch)")
            }
            for k in sorted { #expect(index[k] == model[k]) }
        }
        #expect(most > 1024, "enough keys for several chunks (at most 512 each)")
    }

    @Test func compactionForgetsSupersededVersionsOnly() throws {
        var store = MVCCStore()
        put(&store, "k", "1")  // 2
        put(&store, "k", "2")  // 3
        put(&store, "gone", "x")  // 4
        _ = store.deleteRange(Array("gone".utf8), [], at: store.nextRevision)  // 5
        put(&store, "k", "3")  // 6
        try store.compact(5)
        #expect(throws: MVCCStore.ReadError.compacted) { try store.readRevision(4) }
        #expect(text(store.range(Array("k".utf8), [], at: 5)) == ["k=2@3"])  // still readable at 5
        #expect(text(store.range(Array("k".utf8), [], at: 6)) == ["k=3@6"])
        #expect(throws: MVCCStore.ReadError.compacted) { try store.compact(5) }
        #expect(throws: MVCCStore.ReadError.futureRevision) { try store.compact(7) }
        // Deleted at exactly the compaction revision: not read, but a watcher resuming from 5
        // still gets the delete (etcd #18089: etcd 3.4 loses it); the next compaction drops it.
        #expect(text(store.range(Array("gone".utf8), [], at: 5)).isEmpty)
        #expect(store.changes([0], [0], after: 4).map { "\($0.kind)\(String(decoding: $0.kv.key, as: UTF8.self))@\($0.kv.modRevision)" }
            == ["deletegone@5", "putk@6"])
        try store.compact(6)
        #expect(store.keyCount == 1)  // the deleted key is gone entirely
        #expect(store.changes([0], [0], after: 5).count == 1)
    }

    @Test func changesAfterARevisionComeInOrderWithPreviousValues() {
        var store = MVCCStore()
        put(&store, "a", "1")  // 2
        put(&store, "b", "1")  // 3
        put(&store, "a", "2")  // 4
        _ = store.deleteRange(Array("b".utf8), [], at: store.nextRevision)  // 5
        let changes = store.changes([0], [0], after: 2)
        #expect(changes.map { "\($0.kind)\(String(decoding: $0.kv.key, as: UTF8.self))@\($0.kv.modRevision)" } == ["putb@3", "puta@4", "deleteb@5"])
        #expect(changes[1].previous.map { String(decoding: $0.value, as: UTF8.self) } == "1")
        #expect(changes[2].previous?.modRevision == 3)
    }

    @Test func snapshotsRoundTripEveryVersion() throws {
        var store = MVCCStore()
        put(&store, "a", "1", lease: 7)
        put(&store, "a", "2")
        _ = store.deleteRange(Array("a".utf8), [], at: store.nextRevision)
        put(&store, "b", "x")
        try store.compact(2)
        let copy = try MVCCStore(encoded: store.encoded())
        #expect(copy.encoded() == store.encoded())
        #expect(copy.revision == store.revision && copy.compactRevision == 2)
        #expect(text(copy.range(Array("a".utf8), [], at: 3)) == ["a=2@3"])
        var damaged = store.encoded()
        damaged.removeLast()
        #expect(throws: MVCCStore.SnapshotError.self) { try MVCCStore(encoded: damaged) }
    }
}
