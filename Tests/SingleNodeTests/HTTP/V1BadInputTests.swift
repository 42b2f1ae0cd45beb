import NIOCore
import Testing
import SingleNode

@Suite("Bad input gets the API's JSON error, never a crash or a hang")
struct V1BadInputTests {
    @Test("Missing or empty value is 200; a reserved key is checked first")
    func valueRequired() async throws {
        try await withTestServer { port, _, _ in
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

    @Test("Broken percent-encoding or invalid UTF-8 in a form is 210 and changes nothing")
    func badForm() async throws {
        try await withTestServer { port, server, _ in
            for body in ["value=%zz", "value=%e9", "value=%"] {
                let reply = try await request(port, "POST", "/v1/keys/k", body: body)
                #expect(reply.status == 400)
                #expect(reply.body == #"{"errorCode":210,"message":"Invalid POST form","cause":"the form is not valid percent-encoded UTF-8"}"#)
            }
            #expect(server.backend.read("/k") == .failure(StoreError(.keyNotFound, cause: "/k")))
        }
    }

    @Test("Multipart forms are refused with a message that says what to send instead")
    func multipart() async throws {
        try await withTestServer { port, _, _ in
            let reply = try await request(port, "POST", "/v1/keys/k", body: "--x\r\n", contentType: "multipart/form-data; boundary=x")
            #expect(reply.status == 400)
            #expect(reply.body.contains("send application/x-www-form-urlencoded"))
        }
    }

    @Test("Broken percent-encoding in the key is 209")
    func badKeyEncoding() async throws {
        try await withTestServer { port, _, _ in
            for path in ["/v1/keys/a%zz", "/v1/keys/%ff%fe"] {
                let reply = try await request(port, "GET", path)
                #expect(reply.status == 400)
                #expect(reply.body == #"{"errorCode":209,"message":"Invalid field","cause":"the URL path is not valid percent-encoded UTF-8"}"#)
            }
        }
    }

    @Test("Percent-encoded slashes in a key become path separators, as in the original")
    func encodedSlash() async throws {
        try await withTestServer { port, _, _ in
            _ = try await request(port, "POST", "/v1/keys/a%2Fb", form: [("value", "v")])
            #expect(try await request(port, "GET", "/v1/keys/a/b").status == 200)
        }
    }

    @Test("A body over 1.5 MiB is refused with 413 before it is read, and the connection closed")
    func bodyTooLarge() async throws {
        try await withTestServer { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send("POST /v1/keys/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 2000000\r\n\r\nvalue=")
            let reply = try await withTimeout(5, "413") { try await connection.readResponse() }
            #expect(reply?.status == 413)
            #expect(reply?.body == #"{"errorCode":210,"message":"Invalid POST form","cause":"request body exceeds 1572864 bytes"}"#)
            try await withTimeout(5, "close") { try await connection.waitForClose() }
        }
    }

    @Test("A chunked body that grows past the limit is refused too")
    func chunkedTooLarge() async throws {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 1024
        try await withTestServer(limits: limits) { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            let chunk = String(repeating: "a", count: 800)
            try await connection.send("POST /v1/keys/big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n\(chunk)\r\n320\r\n\(chunk)\r\n0\r\n\r\n")
            let reply = try await withTimeout(5, "413") { try await connection.readResponse() }
            #expect(reply?.status == 413)
        }
    }

    @Test("A value near the limit is accepted whole")
    func largeValue() async throws {
        try await withTestServer { port, _, _ in
            let value = String(repeating: "x", count: 1_000_000)
            let reply = try await request(port, "POST", "/v1/keys/large", form: [("value", value)])
            #expect(reply.status == 200)
            #expect(try await request(port, "GET", "/v1/keys/large").body.count > 1_000_000)
        }
    }

    @Test("An over-long key is refused by the HTTP parser with 431, not a crash")
    func overlongKey() async throws {
        try await withTestServer { port, _, _ in
            let key = String(repeating: "k", count: 100_000)
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send("GET /v1/keys/\(key) HTTP/1.1\r\nHost: x\r\n\r\n")
            let reply = try await withTimeout(5, "reply") { try await connection.readResponse() }
            #expect(reply.map { $0.status >= 400 && $0.status < 500 } ?? true)
            // The server is still there for everyone else.
            #expect(try await request(port, "GET", "/version").status == 200)
        }
    }

    @Test("Garbage instead of HTTP gets 400 and a closed connection")
    func garbage() async throws {
        try await withTestServer { port, _, _ in
            let connection = try await RawHTTPConnection(port: port)
            try await connection.send("\u{16}\u{3}\u{1}\u{0}not http at all\r\n\r\n")
            let reply = try await withTimeout(5, "reply") { try await connection.readResponse() }
            #expect(reply?.status == 400)
            try await withTimeout(5, "close") { try await connection.waitForClose() }
        }
    }
}
