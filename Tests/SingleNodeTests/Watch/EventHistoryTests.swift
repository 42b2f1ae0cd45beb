import Testing
import SingleNode

private func setEvent(_ key: String, _ index: UInt64) -> V1Response {
    V1Response(action: .set, key: key, value: "v", isNewKey: true, index: index)
}

private func history(capacity: Int, events: [(String, UInt64)]) -> KeyStore {
    var store = KeyStore(historyCapacity: capacity)
    for (key, index) in events {
        _ = store.apply(Command(.set(key: key, value: "v", expiration: nil), time: Timestamp(seconds: 0)), at: index)
    }
    return store
}

@Suite("EventHistory: watching from an index", .timeLimit(.minutes(3)))
struct EventHistoryTests {
    @Test("The first matching event at or after the index is returned, inclusive")
    func inclusiveFrom() {
        let store = history(capacity: 10, events: [("/foo/a", 3), ("/bar", 4), ("/foo/b", 6)])
        #expect(store.history.firstEvent(from: 3, under: "/foo") == .success(setEvent("/foo/a", 3)))
        #expect(store.history.firstEvent(from: 4, under: "/foo") == .success(setEvent("/foo/b", 6)))
        #expect(store.history.firstEvent(from: 7, under: "/foo") == .success(nil))
    }

    @Test("Watching the root from an index finds history (the original's / bug is fixed)")
    func rootPrefix() {
        let store = history(capacity: 10, events: [("/x", 3)])
        #expect(store.history.firstEvent(from: 1, under: "/") == .success(setEvent("/x", 3)))
    }

    @Test("Prefixes match whole segments in history too")
    func segments() {
        let store = history(capacity: 10, events: [("/foobar", 3)])
        #expect(store.history.firstEvent(from: 1, under: "/foo") == .success(nil))
    }

    @Test("An index older than the window is error 401 naming where history starts")
    func cleared() {
        let store = history(capacity: 2, events: [("/a", 3), ("/b", 4), ("/c", 5), ("/d", 6)])
        #expect(store.history.retained.map(\.index) == [5, 6])
        #expect(
            store.history.firstEvent(from: 4, under: "/")
                == .failure(StoreError(.eventIndexCleared, cause: "the requested history has been cleared [5/4]")))
        #expect(store.history.firstEvent(from: 5, under: "/") == .success(setEvent("/c", 5)))
    }

    @Test("Capacity zero keeps nothing; a negative capacity keeps everything")
    func capacityExtremes() {
        let none = history(capacity: 0, events: [("/a", 3)])
        #expect(none.history.retained.isEmpty)
        #expect(none.history.firstEvent(from: 3, under: "/") == .failure(StoreError(.eventIndexCleared, cause: "the requested history has been cleared [4/3]")))
        let all = history(capacity: -1, events: (3..<2003).map { ("/k\($0)", UInt64($0)) })
        #expect(all.history.retained.count == 2000)
    }

    @Test("Failed writes are not recorded")
    func failuresNotRecorded() {
        var store = KeyStore()
        _ = store.apply(Command(.delete(key: "/missing"), time: Timestamp(seconds: 0)), at: 3)
        #expect(store.history.retained.isEmpty)
        #expect(store.index == 3)
    }
}
