import EtcdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOPosix
import Raft
import SingleNode
import Synchronization
import Testing

@testable import V3

/// A one-member server on a free port with a gRPC client: the watch stream's options that
/// etcdctl does not reach (fragment) or reaches only slowly (progress notifications).
@Suite("The watch stream through gRPC", .serialized, .timeLimit(.minutes(3)))
struct WatchStreamTests {
    final class Server: @unchecked Sendable {
        let directory = "/tmp/v3-watch-\(UInt64.random(in: 0...UInt64.max))"
        var raft: RaftServer!
        var v3: V3Server!
        var backend: V3Backend!

        func start(progressInterval: Duration, transport: V3Server.Transport = .fast) async throws {
            let machine = V3StateMachine()
            var configuration = RaftServerConfiguration(
                member: Member(name: "solo", peerURL: "http://127.0.0.1:0", clientURL: "http://127.0.0.1:0"), dataDirectory: directory, peerListenPort: 0)
            configuration.stateMachine = machine
            let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            raft = try await RaftServer.start(configuration, logger: logger)
            backend = V3Backend(raft: raft, machine: machine)
            backend.progressNotifyInterval = progressInterval
            v3 = try await V3Server.start(
                host: "127.0.0.1", port: 0, backend: backend, v1: V1HTTPService(backend: ReplicatedBackend(server: raft)), tls: nil,
                metrics: nil, transport: transport, logger: logger)
            let deadline = ContinuousClock.now + .seconds(10)
            while raft.status.leader == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        }

        func stop() async {
            await v3?.stop(grace: .milliseconds(100))
            await raft?.stop()
            _ = try? FileManager.default.removeItem(atPath: directory)
        }

        func put(_ key: String, _ value: [UInt8]) async throws {
            var request = Etcdserverpb_PutRequest()
            request.key = Data(key.utf8)
            request.value = Data(value)
            _ = try await backend.write(.put(request), from: .client(nil))
        }

        /// Opens a watch with `create` and collects responses until `enough` says so, or until
        /// `seconds` pass (then it returns what came). `meanwhile` runs once the watch is
        /// created, before anything more is read (a client that reads late).
        func watch(
            _ create: Etcdserverpb_WatchCreateRequest, seconds: Int64 = 10, meanwhile: (@Sendable () async throws -> Void)? = nil,
            until enough: @escaping @Sendable ([Etcdserverpb_WatchResponse]) -> Bool
        ) async throws -> [Etcdserverpb_WatchResponse] {
            let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: v3.port), transportSecurity: .plaintext)
            let collected = Mutex<[Etcdserverpb_WatchResponse]>([])
            do {
                try await withGRPCClient(transport: transport) { client in
                    let watch = Etcdserverpb_Watch.Client(wrapping: client)
                    var message = Etcdserverpb_WatchRequest()
                    message.createRequest = create
                    let request = message
                    var options = CallOptions.defaults
                    options.timeout = .seconds(seconds)
                    try await watch.watch(options: options, requestProducer: { writer in
                        try await writer.write(request)
                        try await Task.sleep(for: .seconds(30))
                    }, onResponse: { response in
                        for try await message in response.messages {
                            if message.created, let meanwhile { try await meanwhile() }
                            if enough(collected.withLock { $0.append(message); return $0 }) { break }
                        }
                    })
                }
            } catch let error as RPCError where error.code == .deadlineExceeded {
                // The time given is up: what came is the answer.
            }
            return collected.withLock { $0 }
        }
    }

    @Test("A history larger than the request limit comes in fragments when asked, whole otherwise")
    func fragments() async throws {
        let server = Server()
        defer { Task { await server.stop() } }
        try await server.start(progressInterval: .seconds(600))
        let big = [UInt8](repeating: 0x61, count: 700_000)
        for index in 0..<3 { try await server.put("big/\(index)", big) }

        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Data("big/".utf8)
        create.rangeEnd = Data("big0".utf8)
        create.startRevision = 1
        create.fragment = true
        let pieces = try await server.watch(create) { responses in responses.filter { !$0.created }.flatMap(\.events).count == 3 }
        let events = pieces.filter { !$0.created }
        #expect(events.count >= 2)  // split: no response carries all three 700 kB values
        let marked = events.dropLast().allSatisfy { $0.fragment }
        #expect(marked)
        #expect(events.last.map { !$0.fragment } == true)
        #expect(events.flatMap(\.events).map { String(decoding: $0.kv.key, as: UTF8.self) } == ["big/0", "big/1", "big/2"])

        create.fragment = false
        let whole = try await server.watch(create) { responses in responses.filter { !$0.created }.flatMap(\.events).count == 3 }
        #expect(whole.filter { !$0.created }.count == 1)
    }

    @Test("A watcher that asked is told the revision when idle; one that gets events is not")
    func progressNotifications() async throws {
        let server = Server()
        defer { Task { await server.stop() } }
        try await server.start(progressInterval: .milliseconds(200))
        try await server.put("quiet", [1])
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Data("quiet".utf8)
        create.progressNotify = true
        let responses = try await server.watch(create) { responses in responses.filter { !$0.created }.count >= 2 }
        let notices = responses.filter { !$0.created }
        #expect(notices.count == 2)
        // etcd's progress notification: no events, not created or canceled, the current revision.
        #expect(notices.allSatisfy { $0.events.isEmpty && !$0.canceled && $0.header.revision == 2 })

        create.progressNotify = false
        // Three seconds (fifteen intervals): on a loaded machine `created` itself took most of
        // one (the full suite in parallel once saw none within a second).
        let silent = try await server.watch(create, seconds: 3) { responses in responses.count >= 2 }
        #expect(silent.first?.created == true)
        #expect(silent.count == 1)  // only `created`
    }

    @Test("A client that reads late gets every change once, in order", arguments: V3Server.Transport.allCases)
    func slowReader(transport kind: V3Server.Transport) async throws {
        let server = Server()
        defer { Task { await server.stop() } }
        try await server.start(progressInterval: .seconds(600), transport: kind)
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Data("slow/".utf8)
        create.rangeEnd = Data("slow0".utf8)
        let value = [UInt8](repeating: 0x62, count: 20_000)
        let count = 400  // 8 MB: far past the HTTP/2 window and the outbox's 128 responses
        let responses = try await server.watch(create, seconds: 60, meanwhile: {
            for index in 0..<count { try await server.put("slow/\(String(format: "%04d", index))", value) }
        }) { responses in responses.flatMap(\.events).count >= count }
        let keys = responses.flatMap(\.events).map { String(decoding: $0.kv.key, as: UTF8.self) }
        #expect(keys == (0..<count).map { "slow/\(String(format: "%04d", $0))" })
        let revisions = responses.flatMap(\.events).map(\.kv.modRevision)
        #expect(revisions == revisions.sorted() && Set(revisions).count == count)
        // (Whether the outbox filled here depends on the client's buffering; the refusal and
        // catch-up path is tested on the state machine, ReviewRegressionTests.)
    }
}
