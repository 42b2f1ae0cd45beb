import Logging
import NIOPosix
import Testing

@testable import Raft
import RaftCore

/// What a member's publish may change: its name and client URL, never the peer URL the
/// membership records (as in etcd, only `member update` changes that: peers dial it, by its
/// scheme, so flags must not be able to move it, to http:// say).
@Suite("A member's publish", .serialized, .timeLimit(.minutes(3)))
struct PublishTests {
    @Test("Restarted with other URLs in its flags, a member publishes its new client URL and keeps its recorded peer URL")
    func publishKeepsThePeerURL() async throws {
        let directory = TemporaryDirectory()
        let port = freePort()
        func start(peerURL: String, clientURL: String) async throws -> RaftServer {
            var configuration = RaftServerConfiguration(
                member: Member(name: "solo", peerURL: peerURL, clientURL: clientURL), dataDirectory: directory.path + "/data", peerListenPort: port)
            configuration.heartbeatInterval = .milliseconds(50)
            return try await RaftServer.start(configuration, logger: Logger(label: "solo") { _ in SwiftLogNoOpLogHandler() })
        }
        let first = try await start(peerURL: "https://127.0.0.1:\(port)", clientURL: "http://127.0.0.1:1")
        try await waitUntil("published") { first.status.members.first?.clientURL == "http://127.0.0.1:1" }
        await first.stop()
        let second = try await start(peerURL: "http://127.0.0.1:\(port)", clientURL: "http://127.0.0.1:2")
        try await waitUntil("the new client URL published") { second.status.members.first?.clientURL == "http://127.0.0.1:2" }
        #expect(second.status.members.map(\.peerURL) == ["https://127.0.0.1:\(port)"])
        #expect(second.machine.machines().map(\.value) == ["raft=https://127.0.0.1:\(port)&etcd=http://127.0.0.1:2"], "the v1 machine list agrees")
        await second.stop()
    }
}
