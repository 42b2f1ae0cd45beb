import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Raft
import RaftCore

/// Streaming snapshots to followers over real loopback connections: to a peer that reads what
/// comes, to one that cannot be reached, and to one that stops reading.
@Suite("Streaming a snapshot to a follower", .timeLimit(.minutes(3)))
struct SnapshotStreamsTests {
    /// A peer port that keeps every byte it reads; with `reads` false it reads nothing at all.
    final class Peer: Sendable {
        let channel: any Channel
        let received = Received()

        final class Received: Sendable {
            let bytes = Mutex<[UInt8]>([])
        }

        init(reads: Bool) async throws {
            let received = self.received
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelOption(.autoRead, value: reads)
                .childChannelOption(.socketOption(.so_rcvbuf), value: 64 * 1024)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(received)) }
                }
                .bind(host: "127.0.0.1", port: 0).get()
        }

        var url: String { "http://127.0.0.1:\(channel.localAddress!.port!)" }

        final class Collector: ChannelInboundHandler, Sendable {
            typealias InboundIn = ByteBuffer
            let received: Received
            init(_ received: Received) { self.received = received }
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                var buffer = unwrapInboundIn(data)
                let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
                received.bytes.withLock { $0 += bytes }
            }
        }
    }

    static let dial: SnapshotStreams.Dial = { url in
        let address = url.dropFirst("http://".count).split(separator: ":")
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_sndbuf), value: 64 * 1024)
            .connect(host: String(address[0]), port: Int(address[1])!).get()
        return ChannelPeerConnection(channel: channel)
    }

    struct NoOutcome: Error, CustomStringConvertible {
        var description: String { "the stream did not end within 30 s" }
    }

    /// Starts a stream of `message` to `url` on a loop of its own and returns whether it failed,
    /// as `finished` said on that loop (within 30 s), and whether a stream was under way at once.
    func stream(
        _ message: Message, to url: String, stallTimeout: TimeAmount = .seconds(10), dial: @escaping SnapshotStreams.Dial = Self.dial
    ) async throws -> (failed: Bool, wasStreaming: Bool, isEmptyAfter: Bool) {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let streams = SnapshotStreams(loop: loop, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, stallTimeout: stallTimeout)
        let outcome = loop.makePromise(of: (NodeID, Bool).self)
        let timer = loop.scheduleTask(in: .seconds(30)) { outcome.fail(NoOutcome()) }
        outcome.futureResult.whenComplete { _ in timer.cancel() }
        let directory = TemporaryDirectory()
        let sender = SnapshotSender(chunkSize: 64 * 1024, copyState: nil, spoolPath: directory.path + "/unused")
        let wasStreaming = try await loop.submit {
            streams.start(message, to: url, with: sender, dial: dial) { outcome.succeed(($0, $1)) }
            return streams.isStreaming(to: message.to)
        }.get()
        let (follower, failed) = try await outcome.futureResult.get()
        #expect(follower == message.to)
        let isEmpty = try await loop.submit { streams.isEmpty }.get()
        return (failed, wasStreaming, isEmpty)
    }

    /// The bytes a sender writes for `message`, frame after frame.
    func encodedFrames(of message: Message) async throws -> [UInt8] {
        let directory = TemporaryDirectory()
        var bytes: [UInt8] = []
        try await SnapshotSender(chunkSize: 64 * 1024, copyState: nil, spoolPath: directory.path + "/unused").send(message) { bytes += $0.encoded() }
        return bytes
    }

    static func message(bytes: Int) -> Message {
        Message(
            kind: .snapshot, to: 2, from: 1, term: 3,
            snapshot: Snapshot(metadata: SnapshotMetadata(index: 40, term: 3, confState: ConfState(voters: [1, 2])),
                               data: SnapshotContainer(v1: Array(repeating: 7, count: bytes), other: nil, members: []).encoded()))
    }

    @Test("A follower that reads gets every frame the sender makes, in order, and the stream reports success")
    func delivered() async throws {
        let peer = try await Peer(reads: true)
        let message = Self.message(bytes: 300_000)
        let (failed, wasStreaming, isEmptyAfter) = try await stream(message, to: peer.url)
        #expect(!failed)
        #expect(wasStreaming)
        #expect(isEmptyAfter)
        let expected = try await encodedFrames(of: message)
        // The stream has ended, and closed its connection; the last bytes may still be on their way.
        let deadline = ContinuousClock.now + .seconds(10)
        while peer.received.bytes.withLock({ $0.count }) < expected.count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(peer.received.bytes.withLock { $0 } == expected)
        try await peer.channel.close()
    }

    @Test("A follower that cannot be reached: the stream reports failure, so the core sends again")
    func unreachable() async throws {
        struct Refused: Error {}
        let (failed, _, isEmptyAfter) = try await stream(Self.message(bytes: 100), to: "http://127.0.0.1:1", dial: { _ in throw Refused() })
        #expect(failed)
        #expect(isEmptyAfter)
    }

    @Test("A follower that stops reading: the stream is abandoned after the stall timeout and reports failure")
    func stalled() async throws {
        let peer = try await Peer(reads: false)
        // Far more than the socket buffers of both ends hold.
        let began = ContinuousClock.now
        let (failed, _, _) = try await stream(Self.message(bytes: 32 << 20), to: peer.url, stallTimeout: .milliseconds(300))
        #expect(failed)
        #expect(ContinuousClock.now - began < .seconds(20))
        try await peer.channel.close()
    }
}
