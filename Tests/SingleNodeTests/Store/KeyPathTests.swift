import Testing
import SingleNode

@Suite("KeyPath", .timeLimit(.minutes(3)))
struct KeyPathTests {
    @Test("clean follows Go's path.Clean on \"/\" + key", arguments: [
        ("", "/"), ("/", "/"), ("a", "/a"), ("/a/", "/a"), ("//a//b", "/a/b"), ("/a/./b", "/a/b"),
        ("/a/../b", "/b"), ("/../../x", "/x"), ("a/b/..", "/a"), ("/a/.../b", "/a/.../b"), ("/.hidden/x.", "/.hidden/x."),
        ("/a/.", "/a"), ("/a/b/", "/a/b"), ("/a/..", "/"),
    ])
    func clean(raw: String, cleaned: String) {
        #expect(KeyPath.clean(raw) == cleaned)
    }

    @Test("Prefix matching is by whole segments", arguments: [
        ("/foo", "/foo", true), ("/foo/x", "/foo", true), ("/foobar", "/foo", false), ("/fo", "/foo", false),
        ("/foo/x", "/fo", false), ("/anything", "/", true), ("/", "/", true),
    ])
    func isUnder(key: String, prefix: String, expected: Bool) {
        #expect(KeyPath.isUnder(key, prefix: prefix) == expected)
    }

    @Test("Reserved means the first segment is exactly _etcd or ephemeralNodes")
    func reserved() {
        #expect(KeyPath.isReserved("/_etcd"))
        #expect(KeyPath.isReserved("/ephemeralNodes/a"))
        #expect(!KeyPath.isReserved("/_etcdx"))
        #expect(!KeyPath.isReserved("/a/_etcd"))
    }
}
