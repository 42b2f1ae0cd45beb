import Testing
import SingleNode

@Suite("WatchHub: one-shot watchers by prefix", .timeLimit(.minutes(3)))
struct WatchHubTests {
    @Test("A change fires watchers on the key and every ancestor, and only those")
    func firesAncestors() {
        var hub = WatchHub<String>()
        _ = hub.add(prefix: "/", "root")
        _ = hub.add(prefix: "/foo", "foo")
        _ = hub.add(prefix: "/foo/x", "exact")
        _ = hub.add(prefix: "/fo", "fo")
        _ = hub.add(prefix: "/foobar", "foobar")
        _ = hub.add(prefix: "/foo/x/y", "child")
        #expect(Set(hub.fire(for: "/foo/x")) == ["root", "foo", "exact"])
        #expect(hub.count == 3)
    }

    @Test("Watchers are one-shot: a second change does not fire them again")
    func oneShot() {
        var hub = WatchHub<Int>()
        _ = hub.add(prefix: "/a", 1)
        #expect(hub.fire(for: "/a") == [1])
        #expect(hub.fire(for: "/a").isEmpty)
    }

    @Test("A removed watcher never fires, and removing twice is harmless")
    func removal() {
        var hub = WatchHub<Int>()
        let id = hub.add(prefix: "/a", 1)
        #expect(hub.remove(id) == 1)
        #expect(hub.remove(id) == nil)
        #expect(hub.fire(for: "/a").isEmpty)
        #expect(hub.count == 0)
    }

    @Test("A hundred thousand waiting watchers are plain entries, all fired by one change")
    func many() {
        var hub = WatchHub<Int>()
        for n in 0..<100_000 { _ = hub.add(prefix: n % 2 == 0 ? "/" : "/busy", n) }
        #expect(hub.count == 100_000)
        #expect(hub.fire(for: "/busy/key").count == 100_000)
        #expect(hub.count == 0)
    }
}
