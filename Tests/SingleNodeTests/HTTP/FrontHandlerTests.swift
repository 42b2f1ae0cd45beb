import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import SingleNode

/// The front handler later stages put before the v1 API (the JSON gateway, the live Raft view),
/// part by part: a pipelining client gets its answers in the order it asked, whichever handler
/// answers each, and a connection held up by a long answer stops being read.
@Suite("The front handler, part by part", .timeLimit(.minutes(3)))
struct FrontHandlerTests {
    /// Answers paths under /front when the test says so: "front <path> <body bytes>".
    final class Responder: FrontResponder {
        let bodyLimit: Int
        var pending: [(context: ChannelHandlerContext, head: HTTPRequestHead, body: [UInt8], done: @Sendable () -> Void)] = []
        var closed = false

        init(bodyLimit: Int = 8) { self.bodyLimit = bodyLimit }

        func handles(_ head: HTTPRequestHead) -> Bool { head.uri.hasPrefix("/front") }

        func respond(to head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext, done: @escaping @Sendable () -> Void) {
            pending.append((context, head, body, done))
        }

        func connectionClosed() { closed = true }

        /// Writes the oldest pending answer.
        func answer() {
            let (context, head, body, done) = pending.removeFirst()
            write(context, "front \(head.uri) \(body.count)")
            done()
        }
    }

    /// Stands for the v1 API: records what reaches it and answers when told to.
    final class Behind: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        var heads: [String] = []
        var events: [String] = []
        var context: ChannelHandlerContext?

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data) { heads.append(head.uri) }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? FrontRequest { events.append("\(event)") }
        }

        func answer(_ text: String) { write(context!, text) }
    }

    /// Counts the reads that reach the socket's end of the pipeline.
    final class Reads: ChannelOutboundHandler {
        typealias OutboundIn = Never
        var count = 0
        func read(context: ChannelHandlerContext) {
            count += 1
            context.read()
        }
    }

    static func write(_ context: ChannelHandlerContext, _ text: String) {
        let headers = HTTPHeaders([("Content-Length", "\(text.utf8.count)")])
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
    }

    func request(_ channel: EmbeddedChannel, _ uri: String, body: String? = nil) throws {
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: body == nil ? .GET : .POST, uri: uri)))
        if let body { try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: body))) }
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
    }

    /// The bodies of the answers written so far, in order.
    func answers(_ channel: EmbeddedChannel) throws -> [String] {
        var answers: [String] = [], body = ""
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            switch part {
            case .head: body = ""
            case .body(.byteBuffer(let buffer)): body += String(buffer: buffer)
            case .body: break
            case .end: answers.append(body)
            }
        }
        return answers
    }

    func connection(_ responder: Responder, reads: Reads = Reads()) throws -> (EmbeddedChannel, Behind) {
        let channel = EmbeddedChannel()
        let behind = Behind()
        try channel.pipeline.syncOperations.addHandler(reads)
        try channel.pipeline.syncOperations.addHandler(FrontHandler(responder))
        try channel.pipeline.syncOperations.addHandler(behind)
        return (channel, behind)
    }

    @Test("Answers go in the order the requests came, whichever handler gives them")
    func ordered() throws {
        let responder = Responder()
        let (channel, behind) = try connection(responder)
        try request(channel, "/v1/keys/a")
        try request(channel, "/front/one")
        try request(channel, "/v1/keys/b")
        // The front request waits for the v1 answer ahead of it; the one after it waits too.
        #expect(behind.heads == ["/v1/keys/a"])
        #expect(responder.pending.isEmpty)
        behind.answer("first")
        #expect(responder.pending.count == 1)
        #expect(behind.heads == ["/v1/keys/a"], "a request behind a front answer not yet written is held")
        responder.answer()
        #expect(behind.heads == ["/v1/keys/a", "/v1/keys/b"])
        behind.answer("third")
        #expect(try answers(channel) == ["first", "front /front/one 0", "third"])
        #expect(behind.events == ["started", "ended"])
        _ = try channel.finish()
    }

    @Test("A body is kept up to the limit; one past it says the request is too large")
    func bodies() throws {
        let responder = Responder(bodyLimit: 8)
        let (channel, _) = try connection(responder)
        try request(channel, "/front/small", body: "12345")
        responder.answer()
        try request(channel, "/front/large", body: "1234567890abcdef")
        responder.answer()
        #expect(try answers(channel) == ["front /front/small 5", "front /front/large 9"])
        _ = try channel.finish()
    }

    @Test("While requests are held behind a long answer, the connection is read no further")
    func backpressure() throws {
        let responder = Responder(), reads = Reads()
        let (channel, _) = try connection(responder, reads: reads)
        try request(channel, "/front/long")
        for number in 0..<FrontHandler.heldLimit / 2 { try request(channel, "/v1/keys/\(number)") }
        channel.read()
        #expect(reads.count == 0, "16 parts are held: no more is read")
        responder.answer()
        channel.read()
        #expect(reads.count >= 1, "once they move on, reading starts again")
        _ = try channel.finish()
    }

    /// Records parse errors that reach the v1 handler's place.
    final class Errors: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        var seen = 0
        func errorCaught(context: ChannelHandlerContext, error: any Error) { seen += 1 }
    }

    @Test("A malformed request behind a front answer still being written waits for it, as the v1 handler's 400 must")
    func malformedWaits() throws {
        let responder = Responder()
        let channel = EmbeddedChannel()
        let errors = Errors()
        try channel.pipeline.syncOperations.addHandler(FrontHandler(responder))
        try channel.pipeline.syncOperations.addHandler(errors)
        try request(channel, "/front/slow")
        channel.pipeline.fireErrorCaught(HTTPParserError.invalidMethod)
        #expect(errors.seen == 0, "the 400 would go out ahead of the answer still due")
        responder.answer()
        #expect(errors.seen == 1)
        _ = try channel.finish()
    }

    @Test("The responder hears that the client left, and an answer finished after that changes nothing")
    func closed() throws {
        let responder = Responder()
        let (channel, behind) = try connection(responder)
        try request(channel, "/front/watch")
        _ = try channel.finish()
        #expect(responder.closed)
        responder.pending.removeFirst().done()
        #expect(behind.events == ["started"])
    }
}
