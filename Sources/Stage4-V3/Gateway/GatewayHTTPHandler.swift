import GRPCCore
import NIOCore
import NIOHTTP1

/// On a client port's HTTP/1 connections, between the HTTP parser and the v1 API: requests
/// under `/v3/` go to the gateway; every other request passes on to the v1 API untouched.
final class GatewayHTTPHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case passing
        case collecting(HTTPRequestHead, [UInt8])
        case answering
    }

    private let gateway: Gateway
    private let maxBodySize: Int
    private var state = State.idle
    private var call: Task<Void, Never>?

    init(gateway: Gateway, maxBodySize: Int) {
        self.gateway = gateway
        self.maxBodySize = maxBodySize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle), (.head(let head), .passing):
            let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
            if Gateway.handles(path) {
                state = .collecting(head, [])
            } else {
                state = .passing
                context.fireChannelRead(data)
            }
        case (.body(var bytes), .collecting(let head, var body)):
            // Past the limit only the count matters: the bytes are not kept.
            if body.count <= maxBodySize { body += bytes.readBytes(length: bytes.readableBytes) ?? [] }
            state = .collecting(head, body)
        case (.end, .collecting(let head, let body)):
            state = .answering
            start(head, body: body, context: context)
        case (_, .answering):
            break  // one call at a time per connection; its answer is on its way
        default:
            context.fireChannelRead(data)
        }
    }

    private func start(_ head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext) {
        let output = HTTPGatewayOutput(context: context, keepAlive: head.isKeepAlive) { [weak self] in
            self?.state = .idle
        }
        let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
        guard let route = gateway.route(path) else {
            // As grpc-gateway's mux answers a path it has no method for.
            call = Task { await output.plain(status: 404, text: "Not Found\n") }
            return
        }
        guard head.method == .POST else {
            call = Task { await output.plain(status: 405, text: "Method Not Allowed\n") }
            return
        }
        guard body.count <= maxBodySize else {
            let limit = gateway.maxMessageSize
            call = Task { await output.fail(RPCError(code: .resourceExhausted, message: "grpc: received message larger than max (\(body.count) vs. \(limit))")) }
            return
        }
        // grpc-gateway's incoming metadata: the Authorization header (a token from
        // /v3/auth/authenticate) and any Grpc-Metadata-* header, under its name without the prefix.
        var metadata = Metadata()
        for (name, value) in head.headers {
            let lowered = name.lowercased()
            if lowered == "authorization" { metadata.addString(value, forKey: "authorization") }
            if lowered.hasPrefix("grpc-metadata-") { metadata.addString(value, forKey: String(lowered.dropFirst("grpc-metadata-".count))) }
        }
        let gateway = self.gateway
        call = Task { await route.run(gateway, body, metadata, output) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client went: a stream it was reading ends (a watch would run on forever).
        call?.cancel()
        context.fireChannelInactive()
    }
}

/// A gateway call's answer, written on the connection's event loop.
/// Written through the gateway handler's own context, so that the parts go to the HTTP/1
/// encoder and not through the HTTP/2 handlers further back in the pipeline.
final class HTTPGatewayOutput: GatewayOutput, @unchecked Sendable {
    private let context: NIOLoopBound<ChannelHandlerContext>
    private let eventLoop: any EventLoop
    private let keepAlive: Bool
    private let done: () -> Void
    // Touched on the channel's event loop only.
    private var sentHead = false

    init(context: ChannelHandlerContext, keepAlive: Bool, done: @escaping () -> Void) {
        self.context = NIOLoopBound(context, eventLoop: context.eventLoop)
        self.eventLoop = context.eventLoop
        self.keepAlive = keepAlive
        self.done = done
    }

    private func write(_ part: HTTPServerResponsePart, promise: EventLoopPromise<Void>? = nil) {
        context.value.write(NIOAny(part), promise: promise)
    }

    private func writeAndFlush(_ part: HTTPServerResponsePart) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        context.value.writeAndFlush(NIOAny(part), promise: promise)
        return promise.futureResult
    }

    private func onLoop(_ body: @escaping @Sendable (HTTPGatewayOutput) -> Void) async {
        let this = UnsafeTransfer(self)
        try? await eventLoop.submit { body(this.value) }.get()
    }

    private func responseHead(status: Int, contentType: String, length: Int?) -> HTTPResponseHead {
        var headers = HTTPHeaders([("Content-Type", contentType)])
        if let length { headers.add(name: "Content-Length", value: "\(length)") }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        return HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
    }

    func answer(status: Int, body: [UInt8]) async {
        await onLoop { this in
            this.write(HTTPServerResponsePart.head(this.responseHead(status: status, contentType: "application/json", length: body.count)))
            this.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body))))
            this.end()
        }
    }

    func plain(status: Int, text: String) async {
        await onLoop { this in
            let bytes = Array(text.utf8)
            this.write(HTTPServerResponsePart.head(this.responseHead(status: status, contentType: "text/plain; charset=utf-8", length: bytes.count)))
            this.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))))
            this.end()
        }
    }

    func chunk(_ bytes: [UInt8]) async {
        await onLoop { this in
            if !this.sentHead {
                this.sentHead = true
                this.write(HTTPServerResponsePart.head(this.responseHead(status: 200, contentType: "application/json", length: nil)))
            }
            _ = this.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))))
        }
    }

    func finish() async {
        await onLoop { this in
            if !this.sentHead {
                this.sentHead = true
                this.write(HTTPServerResponsePart.head(this.responseHead(status: 200, contentType: "application/json", length: 0)))
            }
            this.end()
        }
    }

    private func end() {
        let keepAlive = self.keepAlive, channel = context.value.channel
        writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
        done()
    }
}

/// A value handed to a closure that runs on the one event loop that owns it.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
