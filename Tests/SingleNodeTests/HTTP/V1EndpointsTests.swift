import Testing
import SingleNode

@Suite("v1 cluster, version and stats endpoints", .timeLimit(.minutes(3)))
struct V1EndpointsTests {
    @Test("machines, leader, version and stats answer as plain text and JSON", arguments: V1HTTPPath.allCases)
    func endpoints(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, server, clock in
            let client = "http://127.0.0.1:\(port)"
            #expect(try await request(port, "GET", "/machines").body == client)
            #expect(try await request(port, "GET", "/v1/machines").body == client)
            #expect(try await request(port, "GET", "/leader").body == "http://127.0.0.1:7001")
            #expect(try await request(port, "GET", "/v1/leader").body == "http://127.0.0.1:7001")
            #expect(try await request(port, "GET", "/version").body == "etcd v0.1.2")
            _ = try await request(port, "POST", "/v1/keys/a", form: [("value", "1")])
            _ = try await request(port, "GET", "/v1/keys/a")
            _ = try await request(port, "POST", "/v1/keys/a", form: [("prevValue", "1"), ("value", "2")])
            _ = try await request(port, "DELETE", "/v1/keys/a")
            // Counted as the original did: the registration and a successful test-and-set are
            // sets too; a failed test-and-set counts only as one.
            _ = try await request(port, "POST", "/v1/keys/a", form: [("prevValue", "nope"), ("value", "3")])
            #expect(try await request(port, "GET", "/stats").body == #"{"gets":1,"sets":3,"deletes":1,"testAndSets":2}"#)
            // A set with ttl=0 is a set and a delete; an expiry moves no counter.
            _ = try await request(port, "POST", "/v1/keys/b", form: [("value", "1")])
            _ = try await request(port, "POST", "/v1/keys/b", form: [("value", "1"), ("ttl", "0")])
            _ = try await request(port, "POST", "/v1/keys/c", form: [("value", "1"), ("ttl", "1")])
            clock.advance(seconds: 2)
            #expect(server.backend.expireDueKeys() == 1)
            #expect(try await request(port, "GET", "/v1/stats/store").body == #"{"gets":1,"sets":6,"deletes":2,"testAndSets":2}"#)
        }
    }

    @Test("Unknown paths are a JSON 404; unclean paths a JSON 400; /v1/keys redirects with its query; other methods 405", arguments: V1HTTPPath.allCases)
    func routing(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let unknown = try await request(port, "GET", "/v2/nothing")
            #expect(unknown.status == 404)
            #expect(unknown.body == #"{"errorCode":209,"message":"Invalid field","cause":"no such endpoint /v2/nothing: the v1 API serves /v1/keys/, /v1/watch/, /machines, /leader, /version and /stats"}"#)
            let bare = try await request(port, "GET", "/v1/keys?sorted=true")
            #expect(bare.status == 301)
            #expect(bare.header("Location") == "/v1/keys/?sorted=true")
            for path in ["/v1/keys/a/../b", "/v1/keys//a", "/v1/keys/./a"] {
                let unclean = try await request(port, "GET", path)
                #expect(unclean.status == 400)
                #expect(unclean.body.contains(#""errorCode":209"#) && unclean.body.contains("send the clean key"))
            }
            for method in ["HEAD", "PATCH", "OPTIONS"] {
                let reply = try await request(port, method, "/v1/keys/a")
                #expect(reply.status == 405)
                #expect(reply.header("Content-Type") == nil)
            }
        }
    }

    @Test("Every answer carries a Date header from the server's clock", arguments: V1HTTPPath.allCases)
    func dateHeader(path: V1HTTPPath) async throws {
        try await withTestServer(path: path) { port, _, _ in
            let reply = try await request(port, "GET", "/version")
            #expect(reply.header("Date") == "Tue, 14 Nov 2023 22:13:20 GMT")
        }
    }
}
