import Testing
import SingleNode

@Suite("KeyStore snapshots", .timeLimit(.minutes(3)))
struct KeyStoreSnapshotTests {
    private let t0 = Timestamp(seconds: 1_700_000_000)

    @Test("A store comes back from its bytes identical: tree, empty directories, TTLs, history, counters")
    func roundTrip() throws {
        var store = KeyStore(historyCapacity: 3)
        _ = store.apply(Command(.join(name: "n1", raftURL: "http://p", etcdURL: "http://c"), time: t0), at: 1)
        _ = store.apply(Command(.set(key: "/a/b", value: "x<&>é", expiration: t0.adding(seconds: 30)), time: t0), at: 3)
        _ = store.apply(Command(.set(key: "/d/gone", value: "1", expiration: nil), time: t0), at: 4)
        _ = store.apply(Command(.delete(key: "/d/gone"), time: t0), at: 5)
        _ = store.apply(Command(.testAndSet(key: "/a/b", prevValue: "nope", value: "y", expiration: nil), time: t0), at: 6)
        _ = store.apply(Command(.set(key: "/z", value: "last", expiration: nil), time: t0), at: 7)
        var restored = try KeyStore(encoded: store.encoded())
        #expect(restored == store)
        #expect(try restored.read("/d").get() == .directory([]))
        #expect(restored.dueExpirations(at: t0.adding(seconds: 31)!).map(\.key) == ["/a/b"], "the expiry schedule is rebuilt")
        #expect(restored.history.firstEvent(from: 1, under: "/") == store.history.firstEvent(from: 1, under: "/"))
    }

    @Test("Damaged snapshot bytes are refused, never half-loaded")
    func damaged() {
        var store = KeyStore()
        _ = store.apply(Command(.set(key: "/k", value: "v", expiration: nil), time: t0), at: 3)
        let bytes = store.encoded()
        #expect(throws: KeyStore.SnapshotError.self) { try KeyStore(encoded: Array(bytes.dropLast(3))) }
        #expect(throws: KeyStore.SnapshotError.self) { try KeyStore(encoded: [9] + bytes.dropFirst()) }
        #expect(throws: KeyStore.SnapshotError.self) { try KeyStore(encoded: bytes + [0]) }
        // A history capacity too large for an Int (bytes 41-48) is refused, not a trap (found
        // by fuzzing; Tests/FuzzTests/crashers/snapshot has the input it found).
        var huge = bytes
        huge.replaceSubrange(41..<49, with: [0, 0, 0, 0, 0, 0, 0, 0x90])
        #expect(throws: KeyStore.SnapshotError.self) { try KeyStore(encoded: huge) }
    }
}
