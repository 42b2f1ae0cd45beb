import GRPCCore
import NIOCore
import NIOHTTP1
import SingleNode

/// On a client port's HTTP/1 connections, in Stage 1's `FrontHandler` between the HTTP parser
/// and the v1 API: requests under `/v3/` go to the gateway; every other request passes on to
/// the v1 API untouched, and the front handler keeps the answers in the order the requests came.
final class GatewayResponder: FrontResponder {
    private let gateway: Gateway
    private let access: HTTPAccessControl?
    let bodyLimit: Int
    private var callID: UInt64?

    init(gateway: Gateway, access: HTTPAccessControl?, maxBodySize: Int) {
        self.gateway = gateway
        self.access = access
        bodyLimit = maxBodySize
    }

    func handles(_ head: HTTPRequestHead) -> Bool { Gateway.handles(Self.path(head)) }

    static func path(_ head: HTTPRequestHead) -> String { String(head.uri.split(separator: "?", maxSplits: 1).first ?? "") }

    func respond(to head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext, done: @escaping @Sendable () -> Void) {
        let cors = access?.corsHeaders(origin: head.headers.first(name: "Origin")) ?? []
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let output = HTTPGatewayOutput(context: context, keepAlive: head.isKeepAlive, version: head.version, extraHeaders: cors) {
            // On the event loop (the output writes there): the call is over.
            let responder = bound.value
            responder.callID.map(responder.gateway.calls.finished)
            responder.callID = nil
            done()
        }
        // etcd's access controller stands in front of its gateway too: DNS rebinding and CORS.
        if let refusal = access?.refusalText(hostHeader: head.headers.first(name: "Host")) {
            return run { await output.plain(status: 421, text: refusal) }
        }
        if head.method == .OPTIONS { return run { await output.plain(status: 200, text: "") } }
        guard let route = gateway.route(Self.path(head)) else {
            // As grpc-gateway's mux answers a path it has no method for.
            return run { await output.plain(status: 404, text: "Not Found\n") }
        }
        guard head.method == .POST else { return run { await output.plain(status: 405, text: "Method Not Allowed\n") } }
        guard body.count <= bodyLimit else {
            let limit = gateway.maxMessageSize, size = body.count
            return run { await output.fail(RPCError(code: .resourceExhausted, message: "grpc: received message larger than max (\(size) vs. \(limit))")) }
        }
        // grpc-gateway's incoming metadata: the Authorization header (a token from
        // /v3/auth/authenticate) and any Grpc-Metadata-* header under its name without the
        // prefix; never this server's own keys (a verified certificate name, a call's number).
        var metadata = Metadata()
        for (name, value) in head.headers {
            let lowered = name.lowercased()
            if lowered == "authorization" { metadata.addString(value, forKey: "authorization") }
            guard lowered.hasPrefix("grpc-metadata-") else { continue }
            let key = String(lowered.dropFirst("grpc-metadata-".count))
            if !key.hasPrefix("etcd-swift-") { metadata.addString(value, forKey: key) }
        }
        let id = gateway.calls.next()
        callID = id
        metadata.addString(String(id), forKey: GatewayCalls.key)
        let gateway = self.gateway, sent = metadata
        run { await route.run(gateway, body, sent, output) }
    }

    private func run(_ work: @escaping @Sendable () async -> Void) {
        Task { await work() }
    }

    func connectionClosed() {
        // The client went: the call it was waiting on ends on the server too (a watch would run
        // on for ever, a lock would be taken for nobody).
        callID.map(gateway.calls.cancel)
        callID = nil
    }
}

/// A gateway call's answer, written on the connection's event loop through the gateway
/// handler's own context, so that the parts go to the HTTP/1 encoder and not through the HTTP/2
/// handlers further back in the pipeline.
final class HTTPGatewayOutput: GatewayOutput, @unchecked Sendable {
    private let context: NIOLoopBound<ChannelHandlerContext>
    private let eventLoop: any EventLoop
    private let keepAlive: Bool
    private let version: HTTPVersion
    private let extraHeaders: [(String, String)]
    private let done: @Sendable () -> Void
    // Touched on the channel's event loop only.
    private var sentHead = false
    private var isDone = false

    init(context: ChannelHandlerContext, keepAlive: Bool, version: HTTPVersion, extraHeaders: [(String, String)], done: @escaping @Sendable () -> Void) {
        self.context = NIOLoopBound(context, eventLoop: context.eventLoop)
        self.eventLoop = context.eventLoop
        self.keepAlive = keepAlive
        self.version = version
        self.extraHeaders = extraHeaders
        self.done = done
    }

    private func write(_ part: HTTPServerResponsePart) {
        context.value.write(NIOAny(part), promise: nil)
    }

    private func writeAndFlush(_ part: HTTPServerResponsePart) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        context.value.writeAndFlush(NIOAny(part), promise: promise)
        return promise.futureResult
    }

    /// Runs `body` on the event loop, and waits for the write it returns (if any) to reach the
    /// socket, so that a client that reads slowly holds back the stream instead of growing a
    /// buffer without end.
    private func onLoop(_ body: @escaping @Sendable (HTTPGatewayOutput) -> EventLoopFuture<Void>?) async {
        let this = UnsafeTransfer(self)
        let written = try? await eventLoop.submit { body(this.value).map(UnsafeTransfer.init) }.get()
        _ = try? await written?.value.get()
    }

    private func responseHead(status: Int, contentType: String, length: Int?) -> HTTPResponseHead {
        var headers = HTTPHeaders([("Content-Type", contentType)])
        headers.add(contentsOf: extraHeaders)
        if let length { headers.add(name: "Content-Length", value: "\(length)") }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        return HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: headers)
    }

    func answer(status: Int, body: [UInt8]) async {
        await onLoop { this in
            guard !this.isDone else { return nil }
            this.write(.head(this.responseHead(status: status, contentType: "application/json", length: body.count)))
            this.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
            return this.end()
        }
    }

    func plain(status: Int, text: String) async {
        await onLoop { this in
            guard !this.isDone else { return nil }
            let bytes = Array(text.utf8)
            this.write(.head(this.responseHead(status: status, contentType: "text/plain; charset=utf-8", length: bytes.count)))
            if !bytes.isEmpty { this.write(.body(.byteBuffer(ByteBuffer(bytes: bytes)))) }
            return this.end()
        }
    }

    func chunk(_ bytes: [UInt8]) async {
        await onLoop { this in
            guard !this.isDone else { return nil }
            if !this.sentHead {
                this.sentHead = true
                this.write(.head(this.responseHead(status: 200, contentType: "application/json", length: nil)))
            }
            return this.writeAndFlush(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
        }
    }

    func finish() async {
        await onLoop { this in
            guard !this.isDone else { return nil }
            if !this.sentHead {
                this.sentHead = true
                this.write(.head(this.responseHead(status: 200, contentType: "application/json", length: 0)))
            }
            return this.end()
        }
    }

    private func end() -> EventLoopFuture<Void> {
        isDone = true
        let keepAlive = self.keepAlive, channel = context.value.channel
        let written = writeAndFlush(.end(nil))
        written.whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
        done()
        return written
    }
}

/// A value handed to a closure that runs on the one event loop that owns it.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
