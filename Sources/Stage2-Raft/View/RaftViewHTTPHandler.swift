import Foundation
import NIOCore
import NIOHTTP1
import SingleNode

/// The live view on a client port's HTTP/1 connections, between the HTTP parser and the v1
/// API: requests under `/debug/raft` are answered here, every other one passes on untouched.
/// Installed only on a member started with the view on; without it the v1 API answers 404.
///
/// - `GET /debug/raft`: the page (HTML, its style and script inline; no build step, no CDN).
/// - `GET /debug/raft/state`: the whole cluster as JSON (`ClusterRaftView`).
/// - `GET /debug/raft/events`: the same, as Server-Sent Events, twice a second.
/// - `POST /debug/raft/cut?from=a,b` and `POST /debug/raft/heal`: the lab's partition, refused
///   (403) on a member the lab did not start.
///
/// One request at a time: parts arriving while an answer is written wait their turn. An events
/// stream keeps its connection until the client leaves.
public final class RaftViewHTTPHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    static let prefix = "/debug/raft"
    static let streamInterval: TimeAmount = .milliseconds(500)

    private enum State {
        case idle
        case passing
        case collecting(HTTPRequestHead)
        case answering
        case streaming
    }

    private let server: RaftServer
    private let access: HTTPAccessControl?
    private var state = State.idle
    private var waiting: [HTTPServerRequestPart] = []
    private var stream: RepeatedTask?
    private var isGathering = false

    public init(server: RaftServer, access: HTTPAccessControl?) {
        self.server = server
        self.access = access
    }

    /// Whether the view serves `path` (the rest goes to the v1 API).
    static func handles(_ path: String) -> Bool {
        path == prefix || path.hasPrefix(prefix + "/")
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handle(unwrapInboundIn(data), context: context)
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (part, state) {
        case (_, .answering), (_, .streaming):
            waiting.append(part)
        case (.head(let head), .idle), (.head(let head), .passing):
            if Self.handles(Self.path(head.uri)) {
                state = .collecting(head)
                context.fireUserInboundEventTriggered(FrontRequest.started)
            } else {
                state = .passing
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.body, .collecting):
            break  // no route here reads a body
        case (.end, .collecting(let head)):
            state = .answering
            route(head, context: context)
        default:
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    static func path(_ uri: String) -> String { String(uri.split(separator: "?", maxSplits: 1).first ?? "") }

    static func query(_ uri: String, _ name: String) -> String? {
        guard let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.first == Substring(name) { return parts.count > 1 ? String(parts[1]).removingPercentEncoding ?? String(parts[1]) : "" }
        }
        return nil
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let cors = access?.corsHeaders(origin: head.headers.first(name: "Origin")) ?? []
        if let refusal = access?.refusalText(hostHeader: head.headers.first(name: "Host")) {
            return respond(context, head, status: .misdirectedRequest, type: "text/plain; charset=utf-8", body: Array(refusal.utf8), extra: cors)
        }
        if head.method == .OPTIONS { return respond(context, head, status: .ok, type: "text/plain; charset=utf-8", body: [], extra: cors) }
        let path = Self.path(head.uri)
        let isGet = head.method == .GET || head.method == .HEAD
        switch path {
        case Self.prefix, Self.prefix + "/":
            guard isGet else { return refuseMethod(context, head, cors) }
            respond(context, head, status: .ok, type: "text/html; charset=utf-8", body: Array(RaftViewPage.html.utf8), extra: cors)
        case Self.prefix + "/state":
            guard isGet else { return refuseMethod(context, head, cors) }
            later(context) { server in
                let view = await server.clusterView()
                return (.ok, RaftViewJSON.encode(view))
            } answer: { handler, context, status, body in
                handler.respond(context, head, status: status, type: "application/json", body: body, extra: cors)
            }
        case Self.prefix + "/events":
            guard isGet else { return refuseMethod(context, head, cors) }
            startStream(context, head, cors)
        case Self.prefix + "/cut", Self.prefix + "/heal":
            guard head.method == .POST else { return refuseMethod(context, head, cors) }
            let names = path.hasSuffix("/heal") ? [] : (Self.query(head.uri, "from") ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
            later(context) { server in
                do {
                    let cut = try await server.cut(from: names)
                    return (.ok, RaftViewJSON.encode(["cutOff": cut]))
                } catch let error as RaftServer.LabError {
                    return (HTTPResponseStatus(statusCode: error.status), Self.errorJSON(error.description))
                } catch {
                    return (.internalServerError, Self.errorJSON("\(error)"))
                }
            } answer: { handler, context, status, body in
                handler.respond(context, head, status: status, type: "application/json", body: body, extra: cors)
            }
        default:
            respond(context, head, status: .notFound, type: "application/json", body: Self.errorJSON("no such page: \(path)"), extra: cors)
        }
    }

    static func errorJSON(_ text: String) -> [UInt8] {
        RaftViewJSON.encode(["error": text])
    }

    private func refuseMethod(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ cors: [(String, String)]) {
        respond(context, head, status: .methodNotAllowed, type: "application/json", body: Self.errorJSON("method \(head.method) not allowed here"), extra: cors)
    }

    /// Runs `work` off the event loop, then `answer` back on it.
    private func later(
        _ context: ChannelHandlerContext, _ work: @escaping @Sendable (RaftServer) async -> (HTTPResponseStatus, [UInt8]),
        answer: @escaping (RaftViewHTTPHandler, ChannelHandlerContext, HTTPResponseStatus, [UInt8]) -> Void
    ) {
        let bound = NIOLoopBound((self, context, answer), eventLoop: context.eventLoop)
        let server = self.server
        Task {
            let (status, body) = await work(server)
            bound.eventLoop.execute {
                let (handler, context, answer) = bound.value
                answer(handler, context, status, body)
            }
        }
    }

    private func respond(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, status: HTTPResponseStatus, type: String, body: [UInt8], extra: [(String, String)]
    ) {
        var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.count)"), ("Cache-Control", "no-store")])
        headers.add(contentsOf: extra)
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD && !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if !head.isKeepAlive {
            context.close(promise: nil)
            return
        }
        finished(context: context)
    }

    /// Server-Sent Events: the cluster's view every `streamInterval`, each as one `data:` line.
    private func startStream(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ cors: [(String, String)]) {
        state = .streaming
        var headers = HTTPHeaders([("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")])
        headers.add(contentsOf: cors)
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let push: @Sendable (RepeatedTask?) -> Void = { _ in
            let (handler, _) = bound.value
            // A slow gathering (a member paused) skips beats instead of piling them up.
            guard !handler.isGathering else { return }
            handler.isGathering = true
            let server = handler.server
            Task {
                let view = await server.clusterView()
                let json = RaftViewJSON.encode(view)
                bound.eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.isGathering = false
                    guard case .streaming = handler.state, context.channel.isActive else { return }
                    let event = Array("data: ".utf8) + json + Array("\n\n".utf8)
                    context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: event)))), promise: nil)
                }
            }
        }
        stream = context.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: Self.streamInterval) { task in push(task) }
    }

    /// The answer is written: the v1 handler may time the connection again, and requests that
    /// came meanwhile are read.
    private func finished(context: ChannelHandlerContext) {
        state = .idle
        context.fireUserInboundEventTriggered(FrontRequest.ended)
        while !waiting.isEmpty {
            if case .answering = state { break }
            if case .streaming = state { break }
            handle(waiting.removeFirst(), context: context)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        stream?.cancel()
        stream = nil
        context.fireChannelInactive()
    }
}
