import NIOCore
import Testing
import SingleNode

@Suite("Bad input gets the API's JSON error, never a crash or a hang", .timeLimit(.minutes(3)))
struct V1BadInputTests {
    @Test("Missing or empty value is 200; a reserved key is checked first", arguments: V1HTTPPath.allCases)
    func valueRequired(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            for form in [[("ttl", "5")], [("value", "")]] {
                let reply = try await request(port, "POST", "/v1/keys/k", form: form)
                #expect(reply.status == 400)
                #expect(reply.body == #"{"errorCode":200,"message":"Value is Required in POST form","cause":"Set"}"#)
            }
            let reserved = try await request(port, "POST", "/v1/keys/_etcd/k", form: [])
            #expect(reserved.body.contains(#""errorCode":400"#))
        }
    }

    @Test("A TTL that is not an integer, or too large for the clock, is 202", arguments: [
        ("abc", "Set"), ("1.5", "Set"), ("5s", "Set"), ("99999999999999999999", "Set"),
        ("9223372036854775807", "Set: TTL out of range"), ("300000000000", "Set: TTL out of range"),
    ])
    func badTTL(ttl: String, cause: String) async throws {
        try await withTestServer { port, _, _ in
            let reply = try await request(port, "POST", "/v1/keys/k", form: [("value", "v"), ("ttl", ttl)])
            #expect(reply.status == 400)
            #expect(reply.body == #"{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"\#(cause)"}"#)
        }
    }

    @Test("Broken percent-encoding or invalid UTF-8 in a form is 210 and changes nothing", arguments: V1HTTPPath.allCases)
    func badForm(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, server, _ in
            for body in ["value=%zz", "value=%e9", "value=%"] {
                let reply = try await request(port, "POST", "/v1/keys/k", body: body)
                #expect(reply.status == 400)
                #expect(reply.body == #"{"errorCode":210,"message":"Invalid POST form","cause":"the form is not valid percent-encoded UTF-8"}"#)
            }
            #expect(server.backend.read("/k") == .failure(StoreError(.keyNotFound, cause: "/k")))
        }
    }

    @Test("Multipart forms (curl -F) are read like form bodies; a malformed one is 210", arguments: V1HTTPPath.allCases)
    func multipart(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let body = "--XyZ\r\nContent-Disposition: form-data; name=\"value\"\r\n\r\nfrom -F\r\n"
                + "--XyZ\r\nContent-Disposition: form-data; name=\"ttl\"\r\n\r\n10\r\n--XyZ--\r\n"
            let reply = try await request(port, "POST", "/v1/keys/m", body: body, contentType: "multipart/form-data; boundary=XyZ")
            #expect(reply.body == #"{"action":"SET","key":"/m","value":"from -F","newKey":true,"expiration":"2023-11-14T22:13:30.123456789Z","ttl":10,"index":3}"#)
            let broken = try await request(port, "POST", "/v1/keys/m", body: "--x\r\n", contentType: "multipart/form-data; boundary=x")
            #expect(broken.status == 400)
            #expect(broken.body == #"{"errorCode":210,"message":"Invalid POST form","cause":"the multipart form is malformed"}"#)
        }
    }

    @Test("A combining mark after a slash does not hide it: _etcd stays reserved and files keep no children", arguments: V1HTTPPath.allCases)
    func combiningMarkAfterSlash(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let reserved = try await request(port, "POST", "/v1/keys/_etcd/%CC%81x", form: [("value", "v")])
            #expect(reserved.body.contains(#""errorCode":400"#))
            _ = try await request(port, "POST", "/v1/keys/file", form: [("value", "v")])
            let child = try await request(port, "POST", "/v1/keys/file/%CC%81x", form: [("value", "v")])
            #expect(child.body.contains(#""errorCode":102"#))
        }
    }

    @Test("Keys and values are compared as bytes: precomposed and decomposed é are different keys", arguments: V1HTTPPath.allCases)
    func bytewiseKeys(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            _ = try await request(port, "POST", "/v1/keys/d/caf%C3%A9", form: [("value", "nfc")])
            _ = try await request(port, "POST", "/v1/keys/d/cafe%CC%81", form: [("value", "nfd")])
            let listing = try await request(port, "GET", "/v1/keys/d")
            let expected = "[{\"action\":\"GET\",\"key\":\"/d/cafe\u{301}\",\"value\":\"nfd\",\"index\":4},{\"action\":\"GET\",\"key\":\"/d/caf\u{e9}\",\"value\":\"nfc\",\"index\":4}]"
            #expect(Array(listing.body.utf8) == Array(expected.utf8))
            let tas = try await request(port, "POST", "/v1/keys/d/caf%C3%A9", form: [("prevValue", "nfd"), ("value", "x")])
            #expect(tas.body.contains(#""errorCode":101"#), "the values differ in bytes")
        }
    }

    @Test("A write refused before it reaches the store consumes no index", arguments: V1HTTPPath.allCases)
    func refusedWritesKeepIndexes(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            _ = try await request(port, "POST", "/v1/keys/_etcd/x", form: [("value", "v")])
            _ = try await request(port, "POST", "/v1/keys/k", form: [("value", "")])
            _ = try await request(port, "POST", "/v1/keys/k", form: [("value", "v"), ("ttl", "x")])
            let first = try await request(port, "POST", "/v1/keys/k", form: [("value", "v")])
            #expect(first.body.hasSuffix(#""index":3}"#))
        }
    }

    @Test("Broken percent-encoding in the key is 209", arguments: V1HTTPPath.allCases)
    func badKeyEncoding(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            for path in ["/v1/keys/a%zz", "/v1/keys/%ff%fe"] {
                let reply = try await request(port, "GET", path)
                #expect(reply.status == 400)
                #expect(reply.body == #"{"errorCode":209,"message":"Invalid field","cause":"the URL path is not valid percent-encoded UTF-8"}"#)
            }
        }
    }

    @Test("Percent-encoded slashes in a key become path separators, as in the original", arguments: V1HTTPPath.allCases)
    func encodedSlash(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            _ = try await request(port, "POST", "/v1/keys/a%2Fb", form: [("value", "v")])
            #expect(try await request(port, "GET", "/v1/keys/a/b").status == 200)
        }
    }

    @Test("A body over 1.5 MiB is refused with 413 before it is read, and the connection closed", arguments: V1HTTPPath.allCases)
    func bodyTooLarge(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send("POST /v1/keys/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2000000\r\n\r\nvalue=")
            let reply = try await withTimeout(5, "413") { try await connection.readResponse() }
            #expect(reply?.status == 413)
            #expect(reply?.body == #"{"errorCode":210,"message":"Invalid POST form","cause":"request body exceeds 1572864 bytes"}"#)
            try await withTimeout(5, "close") { try await connection.waitForClose() }
        }
    }

    @Test("A chunked body that grows past the limit is refused too", arguments: V1HTTPPath.allCases)
    func chunkedTooLarge(path: V1HTTPPath) async throws {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 1024
        try await withTestServer(limits: limits, path: path) { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            let chunk = String(repeating: "a", count: 800)
            try await connection.send("POST /v1/keys/big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n\(chunk)\r\n320\r\n\(chunk)\r\n0\r\n\r\n")
            let reply = try await withTimeout(5, "413") { try await connection.readResponse() }
            #expect(reply?.status == 413)
        }
    }

    @Test("A value near the limit is accepted whole", arguments: V1HTTPPath.allCases)
    func largeValue(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let value = String(repeating: "x", count: 1_000_000)
            let reply = try await request(port, "POST", "/v1/keys/large", form: [("value", value)])
            #expect(reply.status == 200)
            #expect(try await request(port, "GET", "/v1/keys/large").body.count > 1_000_000)
        }
    }

    @Test("An over-long key is refused by the HTTP parser with 431, not a crash", arguments: V1HTTPPath.allCases)
    func overlongKey(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let key = String(repeating: "k", count: 100_000)
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send("GET /v1/keys/\(key) HTTP/1.1\r\nHost: x\r\n\r\n")
            let reply = try await withTimeout(5, "reply") { try await connection.readResponse() }
            let status = try #require(reply?.status)
            #expect((400..<500).contains(status))
            // The server is still there for everyone else.
            #expect(try await request(port, "GET", "/version").status == 200)
        }
    }

    @Test("Garbage instead of HTTP gets 400 and a closed connection", arguments: V1HTTPPath.allCases)
    func garbage(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send("\u{16}\u{3}\u{1}\u{0}not http at all\r\n\r\n")
            let reply = try await withTimeout(5, "reply") { try await connection.readResponse() }
            #expect(reply?.status == 400)
            try await withTimeout(5, "close") { try await connection.waitForClose() }
        }
    }
}
