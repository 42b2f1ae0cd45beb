import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import SingleNode

/// A front handler (the JSON gateway's place, the live Raft view's) in front of the v1 API on a
/// real socket, on both HTTP paths: on the plain one it sits behind NIO's pipelining handler.
@Suite("A front handler before the v1 API, on a socket", .timeLimit(.minutes(3)))
struct V1FrontPathTests {
    /// Answers /front/... 600 ms after the request ends: longer than the request timeout.
    final class SlowResponder: FrontResponder {
        let bodyLimit = 64
        func handles(_ head: HTTPRequestHead) -> Bool { head.uri.hasPrefix("/front") }
        func respond(to head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext, done: @escaping @Sendable () -> Void) {
            let uri = head.uri
            let count = body.count
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(600)) {
                FrontHandlerTests.write(context, "front \(uri) \(count)")
                done()
            }
        }
        func connectionClosed() {}
    }

    @Test("Pipelined requests get their answers in order, and a slow front answer is not cut by the request timeout", arguments: V1HTTPPath.allCases)
    func ordered(path: V1HTTPPath) async throws {
        var limits = HTTPLimits()
        limits.requestTimeout = .milliseconds(200)
        let backend = SingleNodeBackend(clock: ManualWallClock(start: Timestamp(seconds: 1_700_000_000)))
        let server = try await V1HTTPServer.start(
            host: "127.0.0.1", port: 0, backend: backend, limits: limits, path: path,
            frontHandlers: { [FrontHandler(SlowResponder())] }, group: MultiThreadedEventLoopGroup.singleton,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let connection = try await RawHTTPConnection(port: server.port)
        // The front request's body comes in a read of its own, after its head: bytes arriving
        // while the front handler holds the request must not start the request timeout again.
        try await connection.send("GET /v1/keys/x HTTP/1.1\r\nHost: x\r\n\r\nPOST /front/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        let first = try await withTimeout(5, "the v1 answer") { try await connection.readResponse() }
        try await connection.send("12345")
        try await connection.send("GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        let second = try await withTimeout(5, "the front answer") { try await connection.readResponse() }
        let third = try await withTimeout(5, "the answer after it") { try await connection.readResponse() }
        #expect(first?.status == 404)
        #expect(second?.body == "front /front/a 5")
        #expect(third?.body == "etcd v0.1.2")
        await connection.close()
        try await server.close()
    }
}
