import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Raft
import SingleNode

/// The view's HTTP handler on a connection shared with the v1 API behind it: answers in the
/// order the requests came, the v1 handler told when a request is taken here, HEAD answered
/// without a body.
@Suite("The live view's HTTP handler, frame by frame", .serialized, .timeLimit(.minutes(3)))
struct RaftViewHTTPHandlerTests {
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

        func answer(_ text: String) {
            let headers = HTTPHeaders([("Content-Length", "\(text.utf8.count)")])
            context!.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context!.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context!.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func request(_ channel: EmbeddedChannel, _ method: HTTPMethod = .GET, uri: String) throws {
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: ["Host": "x"])))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
    }

    /// The answers written so far: status and body of each.
    func answers(_ channel: EmbeddedChannel) throws -> [(status: UInt, body: String)] {
        var answers: [(UInt, String)] = []
        var status: UInt = 0, body = ""
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            switch part {
            case .head(let head): (status, body) = (head.status.code, "")
            case .body(.byteBuffer(let buffer)): body += String(buffer: buffer)
            case .body: break
            case .end: answers.append((status, body))
            }
        }
        return answers
    }

    func withHandler(_ body: (EmbeddedChannel, Behind) throws -> Void) async throws {
        let member = TestMember("viewer")
        try await member.start(raftView: RaftViewSettings())
        let channel = EmbeddedChannel()
        let behind = Behind()
        let outcome = Result {
            try channel.pipeline.syncOperations.addHandler(RaftViewResponder.handler(server: member.server!, access: nil))
            try channel.pipeline.syncOperations.addHandler(behind)
            try body(channel, behind)
        }
        _ = try? channel.finish()
        await member.stop()
        try outcome.get()
    }

    @Test("A request for the view waits behind a v1 request still being answered, then goes")
    func ordered() async throws {
        try await withHandler { channel, behind in
            try request(channel, uri: "/v1/keys/a")
            try request(channel, uri: "/debug/raft")
            try request(channel, uri: "/v1/keys/b")
            #expect(behind.heads == ["/v1/keys/a"])
            #expect(try answers(channel).isEmpty, "the page is not written ahead of the v1 answer")
            behind.answer("first")
            let written = try answers(channel)
            #expect(written.map(\.body.count).first == 5)
            #expect(written.count == 2 && written[1].status == 200 && written[1].body.contains("<title>Raft, live</title>"))
            #expect(behind.heads == ["/v1/keys/a", "/v1/keys/b"], "the request after the page passes on once it is answered")
            #expect(behind.events == ["started", "ended"])
        }
    }

    @Test("HEAD of the events stream gets its headers and an end, and the connection serves on")
    func headOfStream() async throws {
        try await withHandler { channel, _ in
            try request(channel, .HEAD, uri: "/debug/raft/events")
            try request(channel, uri: "/debug/raft/nothing-here")
            let written = try answers(channel)
            #expect(written.map(\.status) == [200, 404])
            #expect(written[0].body.isEmpty)
            #expect(written[1].body == #"{"error":"no such page: /debug/raft/nothing-here"}"#)
        }
    }

    @Test("The lab's controls refuse on a member the lab did not start, and want POST")
    func controlsRefuse() async throws {
        try await withHandler { channel, _ in
            try request(channel, .GET, uri: "/debug/raft/heal")
            #expect(try answers(channel).map(\.status) == [405])
        }
    }
}
