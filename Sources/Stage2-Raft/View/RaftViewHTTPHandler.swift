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
/// One request at a time, in the order they came: a request for the view waits until every
/// request passed on ahead of it is answered (the v1 API or the gateway behind writes its
/// answer's end through here, which is how this handler knows), and whatever comes after it
/// waits until it is answered. While requests wait, the connection is not read further. An
/// events stream keeps its connection until the client leaves.
public final class RaftViewHTTPHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    static let prefix = "/debug/raft"
    static let streamInterval: TimeAmount = .milliseconds(500)
    /// Parts held before the connection stops being read.
    static let heldLimit = 16

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
    // Parts not yet handled, oldest first.
    private var held: [HTTPServerRequestPart] = []
    private var isDraining = false
    private var isReadHeld = false
    private var isClosed = false
    // Requests passed on whose answers have not ended yet.
    private var passedAnswersDue = 0
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
        held.append(unwrapInboundIn(data))
        drain(context: context)
    }

    /// Handles held parts in order for as long as they can be.
    private func drain(context: ChannelHandlerContext) {
        guard !isDraining else { return }
        isDraining = true
        // Taken off before it is handled: handling it may close the connection, which empties
        // the list.
        while !held.isEmpty {
            let part = held.removeFirst()
            if !take(part, context: context) {
                held.insert(part, at: 0)
                break
            }
        }
        isDraining = false
        if isReadHeld && held.count < Self.heldLimit && !isStreaming {
            isReadHeld = false
            context.read()
        }
    }

    private var isStreaming: Bool {
        if case .streaming = state { return true }
        return false
    }

    /// Handles one part if its turn has come; false leaves it held.
    private func take(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) -> Bool {
        switch (part, state) {
        case (_, .answering), (_, .streaming):
            return false
        case (.head(let head), .idle), (.head(let head), .passing):
            if Self.handles(Self.path(head.uri)) {
                guard passedAnswersDue == 0 else { return false }  // after the answers ahead of it
                state = .collecting(head)
                context.fireUserInboundEventTriggered(FrontRequest.started)
            } else {
                state = .passing
                passedAnswersDue += 1
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
        return true
    }

    public func read(context: ChannelHandlerContext) {
        if held.count >= Self.heldLimit {
            isReadHeld = true
            return
        }
        if isStreaming {
            isReadHeld = true  // nothing more is served on a stream's connection
            return
        }
        context.read()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // An answer from behind, to a request passed on: once the last one ends, a request for
        // the view held behind it may go.
        let isEnd: Bool
        if case .end = unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
        context.write(data, promise: promise)
        if isEnd && passedAnswersDue > 0 {
            passedAnswersDue -= 1
            if passedAnswersDue == 0 { drain(context: context) }
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
                guard !handler.isClosed else { return }
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
    /// A beat is skipped while the last is still being gathered (a member paused) or while the
    /// client is not reading (the socket's buffer is full): nothing piles up either way.
    private func startStream(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ cors: [(String, String)]) {
        guard !isClosed else { return }
        state = .streaming
        var headers = HTTPHeaders([("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")])
        headers.add(contentsOf: cors)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        if head.method == .HEAD {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return finished(context: context)
        }
        context.flush()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let push: @Sendable (RepeatedTask) -> Void = { task in
            let (handler, context) = bound.value
            guard !handler.isClosed, context.channel.isActive else { return task.cancel() }
            guard !handler.isGathering, context.channel.isWritable else { return }
            handler.isGathering = true
            let server = handler.server
            Task {
                let json = RaftViewJSON.encode(await server.clusterView())
                bound.eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.isGathering = false
                    guard case .streaming = handler.state, !handler.isClosed else { return }
                    let event = Array("data: ".utf8) + json + Array("\n\n".utf8)
                    context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: event)))), promise: nil)
                }
            }
        }
        stream = context.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: Self.streamInterval, push)
    }

    /// The answer is written: the v1 handler may time the connection again, and requests that
    /// came meanwhile are handled.
    private func finished(context: ChannelHandlerContext) {
        state = .idle
        context.fireUserInboundEventTriggered(FrontRequest.ended)
        drain(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        stream?.cancel()
        stream = nil
        held = []
        context.fireChannelInactive()
    }
}
