import Testing
import SingleNode

@Suite("v1 cluster, version and stats endpoints")
struct V1EndpointsTests {
    @Test("machines, leader, version and stats answer as plain text and JSON")
    func endpoints() async throws {
        try await withTestServer { port, _, _ in
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
            #expect(try await request(port, "GET", "/stats").body == #"{"gets":1,"sets":2,"deletes":1,"testAndSets":1}"#)
            #expect(try await request(port, "GET", "/v1/stats/store").body == #"{"gets":1,"sets":2,"deletes":1,"testAndSets":1}"#)
        }
    }

    @Test("Unknown paths are 404; unclean paths and /v1/keys are redirected; other methods on keys are 405")
    func routing() async throws {
        try await withTestServer { port, _, _ in
            let unknown = try await request(port, "GET", "/v2/nothing")
            #expect(unknown.status == 404)
            #expect(unknown.body == "404 page not found\n")
            let bare = try await request(port, "GET", "/v1/keys")
            #expect(bare.status == 301)
            #expect(bare.header("Location") == "/v1/keys/")
            let dotted = try await request(port, "GET", "/v1/keys/a/../b")
            #expect(dotted.status == 301)
            #expect(dotted.header("Location") == "/v1/keys/b")
            for method in ["HEAD", "PATCH", "OPTIONS"] {
                let reply = try await request(port, method, "/v1/keys/a")
                #expect(reply.status == 405)
                #expect(reply.header("Content-Type") == nil)
            }
        }
    }
}
