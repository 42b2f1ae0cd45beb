import Testing
import SingleNode

// A fresh store as the server leaves it after start: the join at 1, the no-op at 2.
private func freshStore(history: Int = 1024) -> (KeyStore, UInt64) {
    var store = KeyStore(historyCapacity: history)
    _ = store.apply(Command(.join(name: "node1", raftURL: "http://127.0.0.1:7001", etcdURL: "http://127.0.0.1:4001"), time: t0), at: 1)
    _ = store.apply(Command(.nop, time: t0), at: 2)
    return (store, 3)
}

private let t0 = Timestamp(seconds: 1_700_000_000)

private func set(_ key: String, _ value: String, ttl: Int64? = nil, at time: Timestamp = t0) -> Command {
    Command(.set(key: key, value: value, expiration: ttl.flatMap { time.adding(seconds: $0) }), time: time)
}

@Suite("KeyStore: the v1 tree", .timeLimit(.minutes(3)))
struct KeyStoreTests {
    @Test("The first write on a fresh node gets index 3, after the join and the no-op")
    func firstWriteIndex() throws {
        var (store, next) = freshStore()
        let response = try store.apply(set("/message", "Hello world"), at: next).get()
        #expect(response == V1Response(action: .set, key: "/message", value: "Hello world", isNewKey: true, index: 3))
        next += 1
        let update = try store.apply(set("/message", "Hello etcd"), at: next).get()
        #expect(update == V1Response(action: .set, key: "/message", prevValue: "Hello world", value: "Hello etcd", index: 4))
    }

    @Test("Keys are cleaned like path.Clean: slashes, dots and trailing slash")
    func keysAreCleaned() throws {
        var (store, _) = freshStore()
        _ = try store.apply(set("a//b/./c/../d/", "v"), at: 3).get()
        #expect(try store.read("/a/b/d").get() == .file(V1Response(action: .get, key: "/a/b/d", value: "v", index: 3)))
    }

    @Test("Setting under a file, onto a directory, or at the root is error 102 and still moves the index")
    func notAFile() throws {
        var (store, _) = freshStore()
        _ = try store.apply(set("/file", "v"), at: 3).get()
        _ = try store.apply(set("/dir/child", "v"), at: 4).get()
        #expect(store.apply(set("/file/sub", "x"), at: 5) == .failure(StoreError(.notFile, cause: "/file/sub")))
        #expect(store.apply(set("/dir", "x"), at: 6) == .failure(StoreError(.notFile, cause: "/dir")))
        #expect(store.apply(set("/", "x"), at: 7) == .failure(StoreError(.notFile, cause: "/")))
        #expect(store.index == 7)
    }

    @Test("Writes and deletes under _etcd and ephemeralNodes are refused with 400 and consume no index")
    func reservedPrefixes() throws {
        var (store, _) = freshStore()
        #expect(store.apply(set("/_etcd/x", "v"), at: 3) == .failure(StoreError(.keywordPrefix, cause: "Set")))
        #expect(store.apply(set("/ephemeralNodes/x", "v"), at: 3) == .failure(StoreError(.keywordPrefix, cause: "Set")))
        #expect(
            store.apply(Command(.delete(key: "/_etcd/machines/node1"), time: t0), at: 3)
                == .failure(StoreError(.keywordPrefix, cause: "Delete")))
        #expect(store.index == 1)
        // Reading them is allowed, and a key merely starting with the word is not reserved.
        #expect(throws: Never.self) { try store.read("/_etcd/machines").get() }
        #expect(throws: Never.self) { try store.apply(set("/_etcdx", "v"), at: 3).get() }
    }

    @Test("The machine registry reads as raft=…&etcd=…, and a rejoin changes nothing")
    func machines() throws {
        var (store, _) = freshStore()
        let listing = try store.read("/_etcd/machines").get()
        #expect(
            listing
                == .directory([
                    V1Response(
                        action: .get, key: "/_etcd/machines/node1",
                        value: "raft=http://127.0.0.1:7001&etcd=http://127.0.0.1:4001", index: 1)
                ]))
        let rejoin = try store.apply(Command(.join(name: "node1", raftURL: "http://x", etcdURL: "http://y"), time: t0), at: 3).get()
        #expect(rejoin.value == "raft=http://127.0.0.1:7001&etcd=http://127.0.0.1:4001")
        #expect(store.machines().map(\.name) == ["node1"])
        #expect(store.history.retained.count == 1)
    }

    @Test("A directory lists its immediate children sorted by key, subdirectories as dir:true")
    func listing() throws {
        var (store, _) = freshStore()
        _ = try store.apply(set("/foo/z", "1"), at: 3).get()
        _ = try store.apply(set("/foo/a", "2", ttl: 10), at: 4).get()
        _ = try store.apply(set("/foo/m/deep", "3"), at: 5).get()
        let expected: [V1Response] = [
            V1Response(action: .get, key: "/foo/a", value: "2", expiration: t0.adding(seconds: 10), index: 5),
            V1Response(action: .get, key: "/foo/m", isDirectory: true, index: 5),
            V1Response(action: .get, key: "/foo/z", value: "1", index: 5),
        ]
        #expect(try store.read("/foo/").get() == .directory(expected))
        #expect(try store.read("/").get() == .directory([
            V1Response(action: .get, key: "/_etcd", isDirectory: true, index: 5),
            V1Response(action: .get, key: "/foo", isDirectory: true, index: 5),
        ]))
    }

    @Test("A directory emptied by deletes stays and lists as an empty array")
    func emptyDirectoryStays() throws {
        var (store, _) = freshStore()
        _ = try store.apply(set("/d/only", "1"), at: 3).get()
        _ = try store.apply(Command(.delete(key: "/d/only"), time: t0), at: 4).get()
        #expect(try store.read("/d").get() == .directory([]))
    }

    @Test("Delete removes files only; a missing key or a directory is 100 and still moves the index")
    func deleteRules() throws {
        var (store, _) = freshStore()
        _ = try store.apply(set("/dir/f", "v", ttl: 30), at: 3).get()
        #expect(store.apply(Command(.delete(key: "/dir"), time: t0), at: 4) == .failure(StoreError(.keyNotFound, cause: "/dir")))
        #expect(store.apply(Command(.delete(key: "/nope"), time: t0), at: 5) == .failure(StoreError(.keyNotFound, cause: "/nope")))
        #expect(store.index == 5)
        let deleted = try store.apply(Command(.delete(key: "/dir/f"), time: t0), at: 6).get()
        #expect(deleted == V1Response(action: .delete, key: "/dir/f", prevValue: "v", expiration: t0.adding(seconds: 30), index: 6))
        #expect(store.read("/dir/f") == .failure(StoreError(.keyNotFound, cause: "/dir/f")))
    }

    @Test("Test-and-set: success, mismatch (101), missing key (100 without the slash), create-only")
    func testAndSet() throws {
        var (store, _) = freshStore()
        _ = try store.apply(set("/tas", "one"), at: 3).get()
        let tas = { (prev: String, value: String) in Command(.testAndSet(key: "/tas", prevValue: prev, value: value, expiration: nil), time: t0) }
        #expect(store.apply(tas("two", "three"), at: 4) == .failure(StoreError(.testFailed, cause: "TestAndSet: one!=two")))
        #expect(store.index == 3, "a failed test-and-set does not move the store index")
        #expect(try store.apply(tas("one", "two"), at: 5).get() == V1Response(action: .set, key: "/tas", prevValue: "one", value: "two", index: 5))
        let missing = Command(.testAndSet(key: "/nokey", prevValue: "one", value: "two", expiration: nil), time: t0)
        #expect(store.apply(missing, at: 6) == .failure(StoreError(.keyNotFound, cause: "nokey")))
        // prevValue present but empty: create only if absent (v0.1.2).
        #expect(store.apply(tas("", "x"), at: 7) == .failure(StoreError(.testFailed, cause: "TestAndSet: two!=")))
        let create = Command(.testAndSet(key: "/fresh", prevValue: "", value: "new", expiration: nil), time: t0)
        #expect(try store.apply(create, at: 8).get() == V1Response(action: .set, key: "/fresh", value: "new", isNewKey: true, index: 8))
        #expect(store.stats.testAndSets == 5)
    }

    @Test("A TTL of zero or less makes a set act as a delete")
    func nonPositiveTTLDeletes() throws {
        var (store, _) = freshStore()
        _ = try store.apply(set("/k", "v"), at: 3).get()
        #expect(try store.apply(set("/k", "w", ttl: 0), at: 4).get() == V1Response(action: .delete, key: "/k", prevValue: "v", index: 4))
        #expect(store.apply(set("/k", "w", ttl: -5), at: 5) == .failure(StoreError(.keyNotFound, cause: "/k")))
    }

    @Test("A set without a TTL makes a key permanent again")
    func setWithoutTTLIsPermanent() throws {
        var (store, _) = freshStore()
        _ = try store.apply(set("/k", "v", ttl: 5), at: 3).get()
        _ = try store.apply(set("/k", "v2"), at: 4).get()
        #expect(store.dueExpirations(at: t0.adding(seconds: 100)!).isEmpty)
        #expect(store.nextExpiration() == nil)
    }

    @Test("Expiry: due keys come out in order, and an expire command removes only the TTL it names")
    func expiry() throws {
        var (store, _) = freshStore()
        _ = try store.apply(set("/late", "1", ttl: 20), at: 3).get()
        _ = try store.apply(set("/soon", "2", ttl: 5), at: 4).get()
        #expect(store.nextExpiration() == t0.adding(seconds: 5))
        #expect(store.dueExpirations(at: t0.adding(seconds: 4)!).isEmpty)
        let due = store.dueExpirations(at: t0.adding(seconds: 30)!)
        #expect(due.map(\.key) == ["/soon", "/late"])
        // /late is re-set before its expire command is applied: the stale command does nothing.
        _ = try store.apply(set("/late", "again", ttl: 60), at: 5).get()
        let stale = Command(.expire(key: "/late", expiration: due[1].expiration), time: t0.adding(seconds: 30)!)
        #expect(store.apply(stale, at: 6) == .failure(StoreError(.keyNotFound, cause: "/late")))
        let expired = try store.apply(Command(.expire(key: "/soon", expiration: due[0].expiration), time: t0), at: 7).get()
        #expect(expired == V1Response(action: .delete, key: "/soon", prevValue: "2", expiration: due[0].expiration, index: 7))
        #expect(store.read("/soon") == .failure(StoreError(.keyNotFound, cause: "/soon")))
        #expect(store.history.retained.last == expired, "an expiry is a change a watcher can resume across")
    }

    @Test("Two stores fed the same commands end identical, whatever their own clocks say")
    func determinism() throws {
        var (a, _) = freshStore()
        var (b, _) = freshStore()
        let commands = [set("/x", "1", ttl: 3), set("/y/z", "2"), Command(.delete(key: "/x"), time: t0), set("/x", "3", ttl: 0)]
        for (offset, command) in commands.enumerated() {
            #expect(a.apply(command, at: UInt64(3 + offset)) == b.apply(command, at: UInt64(3 + offset)))
        }
        #expect(a == b)
    }
}
