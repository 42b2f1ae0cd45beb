import Foundation
import NIOCore
import NIOPosix
import Raft
import SingleNode
import Synchronization
import Testing

@testable import V3

/// A client that pipelines a v1 request and a gateway request on one connection gets the
/// answers in the order it asked, even when the v1 answer takes a while (a watch).
@Suite("Pipelined v1 and gateway requests on one connection", .serialized, .timeLimit(.minutes(3)))
struct GatewayPipeliningTests {
    /// Collects everything the server sends.
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = Mutex("")
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = String(buffer: unwrapInboundIn(data))
            received.withLock { $0 += text }
        }
    }

    @Test("A gateway request behind a v1 watch is answered after the watch, not before")
    func gatewayWaitsForTheV1AnswerAhead() async throws {
        let server = WatchStreamTests.Server()
        try await server.start(progressInterval: .seconds(600))
        defer { Task { await server.stop() } }
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) } }
            .connect(host: "127.0.0.1", port: server.v3.port).get()
        defer { channel.close(promise: nil) }
        let range = #"{"key":"Zm9v"}"#  // "foo"
        let requests = "GET /v1/watch/foo HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(range.utf8.count)\r\n\r\n\(range)"
        try await channel.writeAndFlush(ByteBuffer(string: requests))
        // The watch fires once foo is set, through the log like any v1 write. It waits for the
        // next change after it reaches the server, which on a busy machine may be after a first
        // set: so foo is set again until the watch has answered.
        let deadline = ContinuousClock.now + .seconds(20)
        var sets = 0
        while ContinuousClock.now < deadline, collector.received.withLock({ $0.components(separatedBy: "HTTP/1.1 200").count }) < 3 {
            if !collector.received.withLock({ $0.contains(#""action":"SET""#) }) && sets < 100 {
                sets += 1
                _ = try await ReplicatedBackend(server: server.raft).write(
                    .set(key: "/foo", value: "bar\(sets)", expiration: nil), issuedAt: SystemWallClock().now(), on: channel.eventLoop
                ).get()
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let text = collector.received.withLock { $0 }
        let watchAnswer = text.range(of: #""action":"SET""#), rangeAnswer = text.range(of: #""header":"#)
        #expect(watchAnswer != nil && rangeAnswer != nil, "\(text)")
        if let watchAnswer, let rangeAnswer {
            #expect(watchAnswer.lowerBound < rangeAnswer.lowerBound, "the gateway answered ahead of the v1 watch: \(text)")
        }
    }
}
