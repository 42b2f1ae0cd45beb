import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Raft

/// The lab's own HTTP port: what the page's buttons ask for that a member cannot do to itself.
/// - `GET /`: to the live view on the first member that is running.
/// - `GET /members`: each member's name, URLs, process ID and state.
/// - `POST /members/NAME/stop|continue|kill|restart`: signals the member's process, or runs it again.
/// Every answer allows any origin: the page comes from a member's port, not this one.
enum LabControlServer {
    static func start(host: String, port: Int, members: LabMembers) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(Handler(members: members))
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    struct MemberJSON: Codable {
        var name: String
        var clientURL: String
        var peerURL: String
        var pid: Int32
        var state: String
        var log: String

        init(_ member: LabMembers.Member) {
            (name, clientURL, peerURL, pid, state, log) = (member.name, member.clientURL, member.peerURL, member.pid, member.state, member.logPath)
        }
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let members: LabMembers
        var head: HTTPRequestHead?

        init(members: LabMembers) { self.members = members }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): self.head = head
            case .body: break
            case .end:
                guard let head else { return }
                self.head = nil
                answer(head, context: context)
            }
        }

        private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
            let path = head.uri.split(separator: "?").first.map(String.init) ?? "/"
            let parts = path.split(separator: "/").map(String.init)
            switch (head.method, parts.count) {
            case (.OPTIONS, _):
                respond(context, head, .ok, [String: String]())
            case (.GET, 0):
                let live = members.snapshot.first { $0.state == "running" }
                var headers = HTTPHeaders([("Location", (live?.clientURL ?? "") + "/debug/raft")])
                headers.add(name: "Content-Length", value: "0")
                write(context, head, .found, headers: headers, body: [])
            case (.GET, 1) where parts[0] == "members":
                respond(context, head, .ok, ["members": members.snapshot.map(MemberJSON.init)])
            case (.POST, 3) where parts[0] == "members":
                // Signalling and reaping may wait a moment: off the event loop.
                let (members, bound) = (self.members, NIOLoopBound((self, context), eventLoop: context.eventLoop))
                DispatchQueue.global().async {
                    let outcome = Result { try members.act(parts[2], on: parts[1]) }
                    bound.eventLoop.execute {
                        let (handler, context) = bound.value
                        switch outcome {
                        case .success(let member): handler.respond(context, head, .ok, ["member": MemberJSON(member)])
                        case .failure(let error): handler.respond(context, head, .badRequest, ["error": "\(error)"])
                        }
                    }
                }
            default:
                respond(context, head, .notFound, ["error": "no such control: \(head.method) \(path)"])
            }
        }

        private func respond<Body: Encodable>(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus, _ body: Body) {
            let bytes = RaftViewJSON.encode(body)
            write(context, head, status, headers: HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "\(bytes.count)")]), body: bytes)
        }

        private func write(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: HTTPResponseStatus, headers: HTTPHeaders, body: [UInt8]) {
            var headers = headers
            headers.add(name: "Access-Control-Allow-Origin", value: "*")
            headers.add(name: "Access-Control-Allow-Methods", value: "GET, POST, OPTIONS")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
