import NIOCore
import NIOEmbedded
import NIOHTTP1
import Synchronization
import Testing
@testable import SingleNode

/// Stage 1's backend with its writes held until the test lets them through, so that a test
/// can act while a write is in flight (as a write waits for Raft in Stage 2).
private final class HeldWritesBackend: V1Backend {
    let base = SingleNodeBackend(clock: ManualWallClock(start: Timestamp(seconds: 1_700_000_000)))
    private let held = Mutex<[@Sendable () -> Void]>([])

    var heldCount: Int { held.withLock { $0.count } }

    func release() {
        for write in held.withLock({ held in defer { held = [] }; return held }) { write() }
    }

    func now() -> Timestamp { base.now() }
    func read(_ key: String) -> Result<ReadResult, StoreError> { base.read(key) }
    func write(_ kind: Command.Kind, issuedAt time: Timestamp, on eventLoop: any EventLoop) -> EventLoopFuture<WriteOutcome> {
        let promise = eventLoop.makePromise(of: WriteOutcome.self)
        held.withLock { $0.append { self.base.write(kind, issuedAt: time, on: eventLoop).cascade(to: promise) } }
        return promise.futureResult
    }
    func watch(prefix: String, fromIndex index: UInt64, on eventLoop: any EventLoop) -> PendingWatch {
        base.watch(prefix: prefix, fromIndex: index, on: eventLoop)
    }
    func cluster() -> ClusterView { base.cluster() }
    func stats() -> StoreStats { base.stats() }
}

@Suite("Pipelined requests, part by part", .timeLimit(.minutes(3)))
struct V1PipeliningTests {
    private func head(_ method: HTTPMethod, _ uri: String, _ headers: [(String, String)] = []) -> HTTPServerRequestPart {
        .head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders([("Host", "x")] + headers)))
    }

    /// The parts written so far, as (status, body, whether the connection closes after it).
    private func answers(_ channel: EmbeddedChannel) throws -> [(status: UInt, body: String, closes: Bool)] {
        var answers: [(UInt, String, Bool)] = []
        var current: (UInt, String, Bool)?
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            switch part {
            case .head(let head): current = (head.status.code, "", head.headers.first(name: "connection") == "close")
            case .body(.byteBuffer(let buffer)): current?.1 += String(buffer: buffer)
            case .body: break
            case .end: if let done = current { answers.append(done) }
            }
        }
        return answers
    }

    @Test("A client that pipelines and half-closes while a write is in flight gets every answer, then the close", arguments: V1HTTPPath.allCases)
    func halfClosedWhileAWriteWaits(path: V1HTTPPath) throws {
        let backend = HeldWritesBackend()
        let channel = try started(backend, path: path)
        try sendPost(channel)
        try sendGet(channel, "/v1/keys/a")
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(backend.heldCount == 1)
        #expect(try answers(channel).isEmpty, "the read waits its turn behind the write")

        backend.release()
        channel.embeddedEventLoop.run()
        let written = try answers(channel)
        #expect(written.map(\.status) == [200, 200])
        #expect(written.last?.body.contains(#""value":"1""#) == true, "the read sees the write ahead of it")
        #expect(written.map(\.closes) == [false, true])
        #expect(!channel.isActive)
    }

    @Test("While requests wait their turn the socket is not read; once they are answered it is again", arguments: V1HTTPPath.allCases)
    func readsHeldWhileRequestsWait(path: V1HTTPPath) throws {
        let backend = HeldWritesBackend()
        let reads = ReadCounter()
        let channel = try started(backend, behind: reads, path: path)
        // The fast handler holds reads only while a request waits behind another; NIO's
        // pipelining handler holds them while any request is in flight, and lets one through when
        // it is answered: the pause and resume around every request that the fast path saves.
        let inFlight = path == .fast ? 1 : 0
        try sendPost(channel)
        channel.read()
        #expect(reads.count == inFlight, "one request in flight, none waiting: reading goes on (fast)")
        try sendGet(channel, "/version")
        channel.read()
        #expect(reads.count == inFlight, "a request waiting: no more reading")
        backend.release()
        channel.embeddedEventLoop.run()
        #expect(try answers(channel).map(\.status) == [200, 200])
        #expect(reads.count == inFlight + 1, "the held read goes through once the queue is empty")
    }
}

extension V1PipeliningTests {
    /// A connection served by the v1 handler of `path` (behind `reads`, if given): the fast one
    /// alone, or the plain one behind NIO's pipelining and error handlers, as the server sets them.
    private func started(_ backend: HeldWritesBackend, behind reads: ReadCounter? = nil, path: V1HTTPPath) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let pipeline = channel.pipeline.syncOperations
        if let reads { try pipeline.addHandler(reads) }
        switch path {
        case .fast:
            try pipeline.addHandler(V1HTTPHandler(api: V1API(backend: backend), limits: HTTPLimits()))
        case .plain:
            try pipeline.addHandler(HTTPServerPipelineHandler())
            try pipeline.addHandler(HTTPServerProtocolErrorHandler())
            try pipeline.addHandler(PlainV1HTTPHandler(api: V1API(backend: backend), limits: HTTPLimits()))
        }
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4001)).wait()
        return channel
    }

    private func sendPost(_ channel: EmbeddedChannel, _ uri: String = "/v1/keys/a", form: String = "value=1") throws {
        try channel.writeInbound(head(.POST, uri, [("Content-Type", "application/x-www-form-urlencoded")]))
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: form)))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
    }

    private func sendGet(_ channel: EmbeddedChannel, _ uri: String) throws {
        try channel.writeInbound(head(.GET, uri))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
    }

    @Test("A graceful stop closes an idle connection at once, and a busy one after the answer in flight", arguments: V1HTTPPath.allCases)
    func quiescing(path: V1HTTPPath) throws {
        let backend = HeldWritesBackend()
        let idle = try started(backend, path: path)
        idle.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!idle.isActive)

        let busy = try started(backend, path: path)
        try sendPost(busy)
        try sendGet(busy, "/version")
        busy.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(busy.isActive)
        backend.release()
        busy.embeddedEventLoop.run()
        let written = try answers(busy)
        #expect(written.map(\.status) == [200])
        #expect(written.map(\.closes) == [true])
        #expect(!busy.isActive)
    }

    @Test("A malformed request behind one being answered gets its 400 after that answer", arguments: V1HTTPPath.allCases)
    func malformedBehindAnAnswer(path: V1HTTPPath) throws {
        let backend = HeldWritesBackend()
        let channel = try started(backend, path: path)
        try sendPost(channel)
        channel.pipeline.fireErrorCaught(HTTPParserError.invalidVersion)
        #expect(try answers(channel).isEmpty)
        #expect(channel.isActive)
        backend.release()
        channel.embeddedEventLoop.run()
        let written = try answers(channel)
        #expect(written.map(\.status) == [200, 400])
        #expect(written.map(\.closes) == [false, true])
        #expect(!channel.isActive)
    }

    @Test("Thousands of requests answered at once behind a waiting one are answered in a loop, not by recursion", arguments: V1HTTPPath.allCases)
    func longQueueOfImmediateAnswers(path: V1HTTPPath) throws {
        let backend = HeldWritesBackend()
        let channel = try started(backend, path: path)
        try sendPost(channel)
        // Watches from an index already in history answer as soon as they start.
        let count = 20_000
        for _ in 0..<count { try sendPost(channel, "/v1/watch/a", form: "index=1") }
        backend.release()
        channel.embeddedEventLoop.run()
        let written = try answers(channel)
        #expect(written.count == count + 1)
        #expect(written.allSatisfy { $0.status == 200 })
    }

    @Test("A watch queued behind a write, from a client that has closed its side, is withdrawn", arguments: V1HTTPPath.allCases)
    func watchQueuedAfterHalfClose(path: V1HTTPPath) throws {
        let backend = HeldWritesBackend()
        let channel = try started(backend, path: path)
        try sendPost(channel)
        try sendGet(channel, "/v1/watch/elsewhere")
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        backend.release()
        channel.embeddedEventLoop.run()
        #expect(try answers(channel).map(\.status) == [200])
        #expect(backend.base.watcherCount == 0)
        #expect(!channel.isActive)
    }
}

/// Counts the reads that reach the socket.
private final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = Never
    var count = 0

    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}
