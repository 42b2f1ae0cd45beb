import Testing
import SingleNode

/// Polls `condition` until it holds, for at most `seconds`: readiness, not a sleep.
func eventually(_ what: String, within seconds: Double = 5, _ condition: @escaping @Sendable () async -> Bool) async throws {
    try await withTimeout(seconds, what) {
        while !(await condition()) { try await Task.sleep(for: .milliseconds(5)) }
    }
}

@Suite("v1 watch API over HTTP", .timeLimit(.minutes(3)))
struct V1WatchAPITests {
    @Test("GET /v1/watch/<prefix> waits for the next change under the prefix, not beside it", arguments: V1HTTPPath.allCases)
    func longPoll(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, server, _ in
            let watch = Task { try await request(port, "GET", "/v1/watch/foo") }
            try await eventually("the watcher registers") { server.backend.watcherCount == 1 }
            _ = try await request(port, "POST", "/v1/keys/foobar", form: [("value", "no")])
            _ = try await request(port, "POST", "/v1/keys/foo/x", form: [("value", "2")])
            let reply = try await watch.value
            #expect(reply.body == #"{"action":"SET","key":"/foo/x","value":"2","newKey":true,"index":4}"#)
            #expect(server.backend.watcherCount == 0, "watchers are one-shot")
        }
    }

    @Test("Watching the root fires for every change, including an expiry", arguments: V1HTTPPath.allCases)
    func rootAndExpiry(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, server, clock in
            _ = try await request(port, "POST", "/v1/keys/t", form: [("value", "v"), ("ttl", "1")])
            let watch = Task { try await request(port, "GET", "/v1/watch/") }
            try await eventually("the watcher registers") { server.backend.watcherCount == 1 }
            clock.advance(seconds: 2)
            server.backend.expireDueKeys()
            let reply = try await watch.value
            #expect(reply.body == #"{"action":"DELETE","key":"/t","prevValue":"v","expiration":"2023-11-14T22:13:21.123456789Z","index":4}"#)
        }
    }

    @Test("POST with index returns the first stored change at or after it, also for the root prefix", arguments: V1HTTPPath.allCases)
    func fromIndex(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            _ = try await request(port, "POST", "/v1/keys/foo", form: [("value", "a")])
            _ = try await request(port, "POST", "/v1/keys/bar", form: [("value", "b")])
            var reply = try await request(port, "POST", "/v1/watch/foo", form: [("index", "3")])
            #expect(reply.body == #"{"action":"SET","key":"/foo","value":"a","newKey":true,"index":3}"#)
            reply = try await request(port, "POST", "/v1/watch/", form: [("index", "4")])
            #expect(reply.body == #"{"action":"SET","key":"/bar","value":"b","newKey":true,"index":4}"#)
            reply = try await request(port, "POST", "/v1/watch/?index=4")
            #expect(reply.body == #"{"action":"SET","key":"/bar","value":"b","newKey":true,"index":4}"#, "the index may come in the query")
        }
    }

    @Test("POST with an index past the last change waits for the next one", arguments: V1HTTPPath.allCases)
    func fromFutureIndex(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, server, _ in
            let watch = Task { try await request(port, "POST", "/v1/watch/k", form: [("index", "10")]) }
            try await eventually("the watcher registers") { server.backend.watcherCount == 1 }
            _ = try await request(port, "POST", "/v1/keys/k", form: [("value", "now")])
            #expect(try await watch.value.body == #"{"action":"SET","key":"/k","value":"now","newKey":true,"index":3}"#)
        }
    }

    @Test("An index older than the history window is error 401, not a silent wait", arguments: V1HTTPPath.allCases)
    func clearedHistory(path: V1HTTPPath) async throws {
        try await withTestServer(historyCapacity: 2, path: path) { port, _, _ in
            for n in 0..<4 { _ = try await request(port, "POST", "/v1/keys/k\(n)", form: [("value", "v")]) }
            let reply = try await request(port, "POST", "/v1/watch/", form: [("index", "3")])
            #expect(reply.status == 400)
            #expect(reply.body == #"{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [5/3]"}"#)
        }
    }

    @Test("A non-numeric index is error 203 and no watch is left behind", arguments: V1HTTPPath.allCases)
    func badIndex(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, server, _ in
            for bad in ["abc", "-1", "1.5", "99999999999999999999999"] {
                let reply = try await request(port, "POST", "/v1/watch/k", form: [("index", bad)])
                #expect(reply.status == 400)
                #expect(reply.body == #"{"errorCode":203,"message":"The given index in POST form is not a number","cause":"Watch From Index"}"#)
            }
            #expect(server.backend.watcherCount == 0)
        }
    }

    @Test("A client that hangs up while watching leaves no watcher behind", arguments: V1HTTPPath.allCases)
    func cancelOnDisconnect(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, server, _ in
            // Bounds wide enough for a test process busy with every other suite at once.
            let connections = try await withTimeout(60, "open watches") {
                var opened: [RawHTTPConnection] = []
                for _ in 0..<100 {
                    let connection = try await RawHTTPConnection(port: port)
                    try await connection.send("GET /v1/watch/w HTTP/1.1\r\nHost: x\r\n\r\n")
                    opened.append(connection)
                }
                return opened
            }
            try await eventually("100 watchers wait", within: 30) { server.backend.watcherCount == 100 }
            for connection in connections { await connection.close() }
            try await eventually("every watcher is withdrawn", within: 30) { server.backend.watcherCount == 0 }
        }
    }

    @Test("Other methods on a watch are 405", arguments: V1HTTPPath.allCases)
    func watchMethods(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let reply = try await request(port, "DELETE", "/v1/watch/x")
            #expect(reply.status == 405)
            #expect(reply.body.isEmpty)
        }
    }
}
