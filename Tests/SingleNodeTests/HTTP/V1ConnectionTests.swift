import Logging
import NIOCore
import Testing
import SingleNode

@Suite("Connections: keep-alive, half-close, slow and idle clients", .timeLimit(.minutes(3)))
struct V1ConnectionTests {
    @Test("Requests on one keep-alive connection are answered in order", arguments: V1HTTPPath.allCases)
    func keepAlive(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send(
                "POST /v1/keys/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nvalue=1"
                    + "GET /v1/keys/a HTTP/1.1\r\nHost: x\r\n\r\n")
            let first = try await withTimeout(5, "first") { try await connection.readResponse() }
            let second = try await withTimeout(5, "second") { try await connection.readResponse() }
            #expect(first?.body == #"{"action":"SET","key":"/a","value":"1","newKey":true,"index":3}"#)
            #expect(second?.body == #"{"action":"GET","key":"/a","value":"1","index":3}"#)
            await connection.close()
        }
    }

    @Test("Requests pipelined behind a waiting watch are answered after it, in order", arguments: V1HTTPPath.allCases)
    func pipelinedBehindAWatch(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, server, _ in
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send(
                "GET /v1/watch/w HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /v1/keys/w HTTP/1.1\r\nHost: x\r\n\r\n")
            try await eventually("the watch waits") { server.backend.watcherCount == 1 }
            _ = try await request(port, "POST", "/v1/keys/w", form: [("value", "v")])
            let event = try await withTimeout(5, "event") { try await connection.readResponse() }
            let version = try await withTimeout(5, "version") { try await connection.readResponse() }
            let read = try await withTimeout(5, "read") { try await connection.readResponse() }
            #expect(event?.body.contains(#""action":"SET","key":"/w","value":"v""#) == true)
            #expect(version?.body == "etcd v0.1.2")
            #expect(read?.body.contains(#""action":"GET","key":"/w","value":"v""#) == true)
            await connection.close()
        }
    }

    @Test("A client that pipelines requests and half-closes gets every answer, then the connection closes", arguments: V1HTTPPath.allCases)
    func pipelinedThenHalfClosed(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send(
                "POST /v1/keys/h HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nvalue=1"
                    + "GET /v1/keys/h HTTP/1.1\r\nHost: x\r\n\r\n")
            try await connection.halfClose()
            let first = try await withTimeout(5, "first") { try await connection.readResponse() }
            let second = try await withTimeout(5, "second") { try await connection.readResponse() }
            #expect(first?.status == 200)
            #expect(second?.body.contains(#""value":"1""#) == true)
            try await withTimeout(5, "close") { try await connection.waitForClose() }
        }
    }

    @Test("A client that half-closes after its request still gets the answer", arguments: V1HTTPPath.allCases)
    func halfClosed(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send("GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            try await connection.halfClose()
            let reply = try await withTimeout(5, "reply") { try await connection.readResponse() }
            #expect(reply?.body == "etcd v0.1.2")
        }
    }

    @Test("A client that starts a request and stalls is cut off after the request timeout, and others are served meanwhile", arguments: V1HTTPPath.allCases)
    func slowClient(path: V1HTTPPath) async throws {
        var limits = HTTPLimits()
        limits.requestTimeout = .milliseconds(300)
        try await withTestServer(limits: limits, path: path) { port, _, _ in
            let slow = try await RawHTTPConnection(port: port)
            try await slow.send("POST /v1/keys/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nvalue=")
            #expect(try await request(port, "GET", "/version").body == "etcd v0.1.2")
            try await withTimeout(5, "the stalled connection is closed") { try await slow.waitForClose() }
            #expect(await slow.isClosedByServer)
        }
    }

    @Test("An idle keep-alive connection is closed, but a waiting watch is not", arguments: V1HTTPPath.allCases)
    func idleVersusWatch(path: V1HTTPPath) async throws {
        var limits = HTTPLimits()
        limits.idleTimeout = .seconds(1)
        try await withTestServer(limits: limits, path: path) { port, server, _ in
            // The watch first, its request in before the idle connection opens. A test process
            // starved for longer than the idle timeout between connecting and sending (CI saw
            // it) finds its watcher closed as idle, rightly: it connects again.
            var watcher = try await RawHTTPConnection(port: port)
            for attempt in 1...3 {
                try await watcher.send("GET /v1/watch/w HTTP/1.1\r\nHost: x\r\n\r\n")
                if (try? await eventually("the watch waits", within: 3) { server.backend.watcherCount == 1 }) != nil { break }
                #expect(attempt < 3, "the watch never registered")
                watcher = try await RawHTTPConnection(port: port)
            }
            let idle = try await RawHTTPConnection(port: port)
            try await withTimeout(5, "the idle connection is closed") { try await idle.waitForClose() }
            #expect(server.backend.watcherCount == 1, "the watch outlives the idle timeout")
            _ = try await request(port, "POST", "/v1/keys/w", form: [("value", "v")])
            let registered = watcher
            let event = try await withTimeout(5, "event") { try await registered.readResponse() }
            #expect(event?.status == 200)
        }
    }

    @Test("HTTP/1.0 without keep-alive gets the answer and a closed connection", arguments: V1HTTPPath.allCases)
    func http10(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send("GET /version HTTP/1.0\r\n\r\n")
            let reply = try await withTimeout(5, "reply") { try await connection.readResponse() }
            #expect(reply?.body == "etcd v0.1.2")
            try await withTimeout(5, "close") { try await connection.waitForClose() }
        }
    }

    @Test("A client that half-closes an idle connection is let go at once", arguments: V1HTTPPath.allCases)
    func halfClosedIdle(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send("GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try await withTimeout(5, "reply") { try await connection.readResponse() }
            try await connection.halfClose()
            try await withTimeout(5, "the server closes") { try await connection.waitForClose() }
        }
    }

    @Test("Headers that trickle in are cut off by the request timeout, not the idle one", arguments: V1HTTPPath.allCases)
    func slowHeaders(path: V1HTTPPath) async throws {
        var limits = HTTPLimits()
        limits.requestTimeout = .milliseconds(200)
        limits.idleTimeout = .seconds(60)
        try await withTestServer(limits: limits, path: path) { port, _, _ in
            let slow = try await RawHTTPConnection(port: port)
            try await slow.send("GET /version HTTP/1.1\r\nHo")
            // A byte every 100 ms, for 3 s: the timeout counts from the request's first byte,
            // so the bytes that follow do not hold the connection open.
            let trickle = Task {
                for _ in 0..<30 {
                    try? await Task.sleep(for: .milliseconds(100))
                    try? await slow.send("x")
                }
            }
            defer { trickle.cancel() }
            try await withTimeout(2, "the trickling connection is closed") { try await slow.waitForClose() }
        }
    }

    @Test("Expect: 100-continue is answered before the body is sent", arguments: V1HTTPPath.allCases)
    func expectContinue(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send(
                "POST /v1/keys/c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\n")
            let interim = try await withTimeout(5, "100 Continue") { try await connection.readResponse() }
            #expect(interim?.status == 100)
            try await connection.send("value=1")
            let reply = try await withTimeout(5, "reply") { try await connection.readResponse() }
            #expect(reply?.status == 200)
        }
    }

    @Test("Stopping the server ends open connections, waiting watches included", arguments: V1HTTPPath.allCases)
    func stopClosesConnections(path: V1HTTPPath) async throws {
        var configuration = SingleNodeConfiguration()
        configuration.clientPort = 0
        configuration.httpPath = path
        let server = try await SingleNodeServer.start(configuration, clock: ManualWallClock(), logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
        let watcher = try await RawHTTPConnection(port: server.clientPort)
        try await watcher.send("GET /v1/watch/w HTTP/1.1\r\nHost: x\r\n\r\n")
        try await eventually("the watch waits") { server.backend.watcherCount == 1 }
        try await server.stop()
        try await withTimeout(5, "the watch connection is closed") { try await watcher.waitForClose() }
        try await eventually("no watcher is left") { server.backend.watcherCount == 0 }
    }
}
