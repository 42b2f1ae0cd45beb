import Testing
import SingleNode

// The clock starts at 2023-11-14T22:13:20.123456789Z in every server test.
private let expiresIn5 = "2023-11-14T22:13:25.123456789Z"

@Suite("v1 keys API over HTTP, byte for byte", .timeLimit(.minutes(3)))
struct V1KeysAPITests {
    @Test("Set, update, get and delete answer exactly as the original, with indexes from 3", arguments: V1HTTPPath.allCases)
    func setGetDelete(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            var reply = try await request(port, "POST", "/v1/keys/message", form: [("value", "Hello world")])
            #expect(reply.status == 200)
            #expect(reply.header("Content-Type") == "text/plain; charset=utf-8")
            #expect(reply.body == #"{"action":"SET","key":"/message","value":"Hello world","newKey":true,"index":3}"#)
            reply = try await request(port, "POST", "/v1/keys/message", form: [("value", "Hello etcd")])
            #expect(reply.body == #"{"action":"SET","key":"/message","prevValue":"Hello world","value":"Hello etcd","index":4}"#)
            reply = try await request(port, "GET", "/v1/keys/message")
            #expect(reply.body == #"{"action":"GET","key":"/message","value":"Hello etcd","index":4}"#)
            reply = try await request(port, "DELETE", "/v1/keys/message")
            #expect(reply.body == #"{"action":"DELETE","key":"/message","prevValue":"Hello etcd","index":5}"#)
            reply = try await request(port, "GET", "/v1/keys/message")
            #expect(reply.status == 404)
            #expect(reply.body == #"{"errorCode":100,"message":"Key Not Found","cause":"/message"}"#)
        }
    }

    @Test("PUT behaves like POST, and parameters may come from the query string", arguments: V1HTTPPath.allCases)
    func putAndQuery(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let reply = try await request(port, "PUT", "/v1/keys/q?value=fromquery")
            #expect(reply.body == #"{"action":"SET","key":"/q","value":"fromquery","newKey":true,"index":3}"#)
            // The body wins over the query.
            let both = try await request(port, "POST", "/v1/keys/q?value=query", form: [("value", "body")])
            #expect(both.body == #"{"action":"SET","key":"/q","prevValue":"fromquery","value":"body","index":4}"#)
        }
    }

    @Test("A TTL shows the absolute expiration and the whole seconds left, then the key expires", arguments: V1HTTPPath.allCases)
    func ttlAndExpiry(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, server, clock in
            var reply = try await request(port, "POST", "/v1/keys/foo", form: [("value", "bar"), ("ttl", "5")])
            #expect(reply.body == #"{"action":"SET","key":"/foo","value":"bar","newKey":true,"expiration":"\#(expiresIn5)","ttl":5,"index":3}"#)
            clock.advance(nanoseconds: 1)
            reply = try await request(port, "GET", "/v1/keys/foo")
            #expect(reply.body == #"{"action":"GET","key":"/foo","value":"bar","expiration":"\#(expiresIn5)","ttl":4,"index":3}"#)
            clock.advance(seconds: 4, nanoseconds: 500_000_000)
            reply = try await request(port, "GET", "/v1/keys/foo")
            #expect(reply.body == #"{"action":"GET","key":"/foo","value":"bar","expiration":"\#(expiresIn5)","index":3}"#, "under a second left: ttl omitted")
            clock.advance(seconds: 1)
            #expect(server.backend.expireDueKeys() == 1)
            reply = try await request(port, "GET", "/v1/keys/foo")
            #expect(reply.status == 404)
        }
    }

    @Test("A TTL of zero turns a set into a delete; a later set without TTL makes a key permanent", arguments: V1HTTPPath.allCases)
    func ttlZeroAndPermanent(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, server, clock in
            _ = try await request(port, "POST", "/v1/keys/k", form: [("value", "v"), ("ttl", "100")])
            _ = try await request(port, "POST", "/v1/keys/k", form: [("value", "v2")])
            clock.advance(seconds: 200)
            #expect(server.backend.expireDueKeys() == 0)
            let deleted = try await request(port, "POST", "/v1/keys/k", form: [("value", "x"), ("ttl", "0")])
            #expect(deleted.body == #"{"action":"DELETE","key":"/k","prevValue":"v2","index":5}"#)
            let missing = try await request(port, "POST", "/v1/keys/k", form: [("value", "x"), ("ttl", "-1")])
            #expect(missing.status == 404)
        }
    }

    @Test("Test-and-set over HTTP: success, 101 mismatch, 100 missing, and create-only with empty prevValue", arguments: V1HTTPPath.allCases)
    func testAndSet(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            _ = try await request(port, "POST", "/v1/keys/tas", form: [("value", "one")])
            var reply = try await request(port, "POST", "/v1/keys/tas", form: [("prevValue", "two"), ("value", "three")])
            #expect(reply.status == 400)
            #expect(reply.body == #"{"errorCode":101,"message":"The given PrevValue is not equal to the value of the key","cause":"TestAndSet: one!=two"}"#)
            reply = try await request(port, "POST", "/v1/keys/tas", form: [("prevValue", "one"), ("value", "two")])
            #expect(reply.body == #"{"action":"SET","key":"/tas","prevValue":"one","value":"two","index":5}"#)
            reply = try await request(port, "POST", "/v1/keys/nokey", form: [("prevValue", "one"), ("value", "two")])
            #expect(reply.status == 404)
            #expect(reply.body == #"{"errorCode":100,"message":"Key Not Found","cause":"nokey"}"#)
            reply = try await request(port, "POST", "/v1/keys/tas", form: [("prevValue", ""), ("value", "x")])
            #expect(reply.body == #"{"errorCode":101,"message":"The given PrevValue is not equal to the value of the key","cause":"TestAndSet: two!="}"#)
            reply = try await request(port, "POST", "/v1/keys/new", form: [("prevValue", ""), ("value", "x")])
            #expect(reply.body == #"{"action":"SET","key":"/new","value":"x","newKey":true,"index":8}"#)
        }
    }

    @Test("Test-and-set with a TTL sets the expiration; with ttl=0 it deletes, as a set does", arguments: V1HTTPPath.allCases)
    func testAndSetWithTTL(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            _ = try await request(port, "POST", "/v1/keys/t", form: [("value", "one")])
            var reply = try await request(port, "POST", "/v1/keys/t", form: [("prevValue", "one"), ("value", "two"), ("ttl", "5")])
            #expect(reply.body == #"{"action":"SET","key":"/t","prevValue":"one","value":"two","expiration":"\#(expiresIn5)","ttl":5,"index":4}"#)
            reply = try await request(port, "POST", "/v1/keys/t", form: [("prevValue", "two"), ("value", "three"), ("ttl", "0")])
            #expect(reply.body == #"{"action":"DELETE","key":"/t","prevValue":"two","expiration":"\#(expiresIn5)","index":5}"#)
            #expect(try await request(port, "GET", "/v1/keys/t").status == 404)
        }
    }

    @Test("Listings are arrays sorted by key; the root shows /_etcd; an empty directory is []", arguments: V1HTTPPath.allCases)
    func listings(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            _ = try await request(port, "POST", "/v1/keys/foo/x", form: [("value", "2")])
            _ = try await request(port, "POST", "/v1/keys/foo/foo", form: [("value", "barbar")])
            var reply = try await request(port, "GET", "/v1/keys/foo")
            #expect(reply.body == #"[{"action":"GET","key":"/foo/foo","value":"barbar","index":4},{"action":"GET","key":"/foo/x","value":"2","index":4}]"#)
            reply = try await request(port, "GET", "/v1/keys/")
            #expect(reply.body == #"[{"action":"GET","key":"/_etcd","dir":true,"index":4},{"action":"GET","key":"/foo","dir":true,"index":4}]"#)
            reply = try await request(port, "GET", "/v1/keys/_etcd/machines")
            #expect(reply.body == #"[{"action":"GET","key":"/_etcd/machines/node1","value":"raft=http://127.0.0.1:7001\u0026etcd=http://127.0.0.1:\#(port)","index":4}]"#)
            _ = try await request(port, "POST", "/v1/keys/d/only", form: [("value", "1")])
            _ = try await request(port, "DELETE", "/v1/keys/d/only")
            reply = try await request(port, "GET", "/v1/keys/d")
            #expect(reply.body == "[]")
        }
    }

    @Test("Values are escaped as Go's encoding/json does: <, >, & and control characters", arguments: V1HTTPPath.allCases)
    func goEscaping(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let reply = try await request(port, "POST", "/v1/keys/e", form: [("value", "<a href=\"x\">&\n\t\u{1} é \u{2028}\\")])
            #expect(reply.body == #"{"action":"SET","key":"/e","value":"\u003ca href=\"x\"\u003e\u0026\n\t\u0001 é \u2028\\","newKey":true,"index":3}"#)
        }
    }

    @Test("Writing into a file, onto a directory or at the root is 102; under _etcd is 400", arguments: V1HTTPPath.allCases)
    func structuralErrors(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            _ = try await request(port, "POST", "/v1/keys/file", form: [("value", "v")])
            var reply = try await request(port, "POST", "/v1/keys/file/sub", form: [("value", "v")])
            #expect(reply.status == 400)
            #expect(reply.body == #"{"errorCode":102,"message":"Not A File","cause":"/file/sub"}"#)
            reply = try await request(port, "POST", "/v1/keys/", form: [("value", "v")])
            #expect(reply.body == #"{"errorCode":102,"message":"Not A File","cause":"/"}"#)
            reply = try await request(port, "POST", "/v1/keys/_etcd/machines/evil", form: [("value", "v")])
            #expect(reply.status == 400)
            #expect(reply.body == #"{"errorCode":400,"message":"The prefix of the given key is a keyword in etcd","cause":"Set"}"#)
            reply = try await request(port, "DELETE", "/v1/keys/_etcd/machines/node1")
            #expect(reply.body == #"{"errorCode":400,"message":"The prefix of the given key is a keyword in etcd","cause":"Delete"}"#)
            reply = try await request(port, "GET", "/v1/keys/_etcd/machines/node1")
            #expect(reply.status == 200, "the registry stays readable and intact")
        }
    }
}
