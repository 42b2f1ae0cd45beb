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
/// Installed in Stage 1's `FrontHandler`, which keeps the answers in the order the requests
/// came (a request for the view waits until every request passed on ahead of it is answered,
/// and whatever comes after it waits until it is answered). An events stream keeps its
/// connection until the client leaves.
public final class RaftViewResponder: FrontResponder {
    static let prefix = "/debug/raft"
    static let streamInterval: TimeAmount = .milliseconds(500)

    private let server: RaftServer
    private let access: HTTPAccessControl?
    private var isClosed = false
    private var isStreaming = false
    private var stream: RepeatedTask?
    private var isGathering = false

    public init(server: RaftServer, access: HTTPAccessControl?) {
        self.server = server
        self.access = access
    }

    /// The view's front handler for one connection.
    public static func handler(server: RaftServer, access: HTTPAccessControl?) -> FrontHandler {
        FrontHandler(RaftViewResponder(server: server, access: access))
    }

    public let bodyLimit = 0  // no route here reads a body

    public func handles(_ head: HTTPRequestHead) -> Bool { Self.handles(Self.path(head.uri)) }

    /// Whether the view serves `path` (the rest goes to the v1 API).
    static func handles(_ path: String) -> Bool {
        path == prefix || path.hasPrefix(prefix + "/")
    }

    public func respond(to head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext, done: @escaping @Sendable () -> Void) {
        route(head, context: context, done: done)
    }

    public func connectionClosed() {
        isClosed = true
        stream?.cancel()
        stream = nil
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

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext, done: @escaping @Sendable () -> Void) {
        let cors = access?.corsHeaders(origin: head.headers.first(name: "Origin")) ?? []
        let answer = Answer(head: head, cors: cors, done: done)
        if let refusal = access?.refusalText(hostHeader: head.headers.first(name: "Host")) {
            return answer.write(context, .misdirectedRequest, type: "text/plain; charset=utf-8", body: Array(refusal.utf8))
        }
        if head.method == .OPTIONS { return answer.write(context, .ok, type: "text/plain; charset=utf-8", body: []) }
        let path = Self.path(head.uri)
        let isGet = head.method == .GET || head.method == .HEAD
        let refuseMethod = { answer.write(context, .methodNotAllowed, type: "application/json", body: Self.errorJSON("method \(head.method) not allowed here")) }
        switch path {
        case Self.prefix, Self.prefix + "/":
            guard isGet else { return refuseMethod() }
            answer.write(context, .ok, type: "text/html; charset=utf-8", body: Array(RaftViewPage.html.utf8))
        case Self.prefix + "/state":
            guard isGet else { return refuseMethod() }
            later(context, answer) { server in (.ok, RaftViewJSON.encode(await server.clusterView())) }
        case Self.prefix + "/events":
            guard isGet else { return refuseMethod() }
            startStream(context, answer)
        case Self.prefix + "/cut", Self.prefix + "/heal":
            guard head.method == .POST else { return refuseMethod() }
            let names = path.hasSuffix("/heal") ? [] : (Self.query(head.uri, "from") ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
            later(context, answer) { server in
                do {
                    let cut = try await server.cut(from: names)
                    return (.ok, RaftViewJSON.encode(["cutOff": cut]))
                } catch let error as RaftServer.LabError {
                    return (HTTPResponseStatus(statusCode: error.status), Self.errorJSON(error.description))
                } catch {
                    return (.internalServerError, Self.errorJSON("\(error)"))
                }
            }
        default:
            answer.write(context, .notFound, type: "application/json", body: Self.errorJSON("no such page: \(path)"))
        }
    }

    static func errorJSON(_ text: String) -> [UInt8] {
        RaftViewJSON.encode(["error": text])
    }

    /// One request's answer: its head (version, keep-alive, HEAD), its CORS headers, and what
    /// to call once it is written.
    struct Answer: Sendable {
        let head: HTTPRequestHead
        let cors: [(String, String)]
        let done: @Sendable () -> Void

        func write(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, type: String, body: [UInt8]) {
            var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.count)"), ("Cache-Control", "no-store")])
            headers.add(contentsOf: cors)
            if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
            context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if head.method != .HEAD && !body.isEmpty {
                context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            }
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
            if head.isKeepAlive { done() } else { context.close(promise: nil) }
        }
    }

    /// Runs `work` off the event loop, then writes its answer back on it (unless the client left).
    private func later(
        _ context: ChannelHandlerContext, _ answer: Answer, _ work: @escaping @Sendable (RaftServer) async -> (HTTPResponseStatus, [UInt8])
    ) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let server = self.server
        Task {
            let (status, body) = await work(server)
            bound.eventLoop.execute {
                let (responder, context) = bound.value
                guard !responder.isClosed else { return }
                answer.write(context, status, type: "application/json", body: body)
            }
        }
    }

    /// Server-Sent Events: the cluster's view every `streamInterval`, each as one `data:` line.
    /// A beat is skipped while the last is still being gathered (a member paused) or while the
    /// client is not reading (the socket's buffer is full): nothing piles up either way. The
    /// stream never ends from here, so nothing more is served on its connection.
    private func startStream(_ context: ChannelHandlerContext, _ answer: Answer) {
        guard !isClosed else { return }
        var headers = HTTPHeaders([("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")])
        headers.add(contentsOf: answer.cors)
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: answer.head.version, status: .ok, headers: headers))), promise: nil)
        if answer.head.method == .HEAD {
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
            return answer.done()
        }
        context.flush()
        isStreaming = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let push: @Sendable (RepeatedTask) -> Void = { task in
            let (responder, context) = bound.value
            guard !responder.isClosed, context.channel.isActive else { return task.cancel() }
            guard !responder.isGathering, context.channel.isWritable else { return }
            responder.isGathering = true
            let server = responder.server
            Task {
                let json = RaftViewJSON.encode(await server.clusterView())
                bound.eventLoop.execute {
                    let (responder, context) = bound.value
                    responder.isGathering = false
                    guard responder.isStreaming, !responder.isClosed else { return }
                    let event = Array("data: ".utf8) + json + Array("\n\n".utf8)
                    context.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: event)))), promise: nil)
                }
            }
        }
        stream = context.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: Self.streamInterval, push)
    }
}
