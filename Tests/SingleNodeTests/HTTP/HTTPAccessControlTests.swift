import Testing

@testable import SingleNode

@Suite("etcd 3's host and CORS rules for the client port's HTTP side", .timeLimit(.minutes(3)))
struct HTTPAccessControlTests {
    @Test("Host headers lose their port, IPv6 brackets included", arguments: [
        ("127.0.0.1:2379", "127.0.0.1"), ("etcd.example", "etcd.example"), ("[::1]:2379", "::1"), ("[::1]", "::1"), ("::1", "::1"),
    ])
    func hostnames(header: String, host: String) {
        #expect(HTTPAccessControl.hostname(header) == host)
    }

    @Test("Only listed hosts are served over plaintext; '*' and TLS allow any")
    func hosts() throws {
        let listed = HTTPAccessControl(allowedHosts: ["etcd.example", "127.0.0.1"], checksHosts: true)
        #expect(listed.refusal(hostHeader: "etcd.example:2379") == nil)
        #expect(listed.refusal(hostHeader: "127.0.0.1:2379") == nil)
        let refused = try #require(listed.refusal(hostHeader: "attacker.example:2379"))
        #expect(refused.status == .misdirectedRequest)
        #expect(String(decoding: refused.body, as: UTF8.self).contains(#"etcd --host-whitelist "attacker.example""#))
        #expect(listed.refusal(hostHeader: nil) != nil)
        #expect(HTTPAccessControl(allowedHosts: ["etcd.example"], checksHosts: false).refusal(hostHeader: "attacker.example") == nil)
        #expect(HTTPAccessControl(allowedHosts: ["*"], checksHosts: true).refusal(hostHeader: "attacker.example") == nil)
    }

    @Test("CORS: '*' answers every origin with '*'; a list answers its own origins only")
    func cors() {
        let any = HTTPAccessControl(checksHosts: true)
        #expect(any.corsHeaders(origin: nil).first { $0.0 == "Access-Control-Allow-Origin" }?.1 == "*")
        let listed = HTTPAccessControl(corsOrigins: ["http://app.example:80"], checksHosts: true)
        #expect(listed.corsHeaders(origin: "http://app.example:80").first { $0.0 == "Access-Control-Allow-Origin" }?.1 == "http://app.example:80")
        #expect(listed.corsHeaders(origin: "http://other.example:80").isEmpty)
        #expect(listed.corsHeaders(origin: nil).isEmpty)
    }
}
