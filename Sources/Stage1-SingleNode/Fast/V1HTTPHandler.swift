import NIOCore
import NIOHTTP1

/// Reads one HTTP/1 request at a time from a connection and answers it through `V1API`.
///
/// HTTP/1 answers go out in the order the requests came: a request that arrives while one
/// ahead of it is still being answered (a pipelining client) waits here, and meanwhile the
/// socket is not read, so a client cannot queue more than one read's worth. A waiting watch
/// holds the requests behind it. (NIO's pipelining handler would do this too, but it stops
/// and restarts reading around every request, two `epoll_ctl` calls per request that clients
/// which never pipeline, nearly all of them, would pay for: 12% fewer writes/s on a cluster.)
final class V1HTTPHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case receiving(HTTPRequestHead, body: [UInt8])
        case answering(cancel: (@Sendable () -> Void)?)
        case closing
    }

    private let api: V1API
    private let limits: HTTPLimits
    private var state = State.idle
    // One timer per connection, re-armed lazily: a request only records when its phase began,
    // so the hot path schedules nothing. `phaseTimeout` nil means no limit (a watch waiting).
    private var phaseStarted = NIODeadline.now()
    private var phaseTimeout: TimeAmount?
    private var deadline: Scheduled<Void>?
    // The Date header, formatted once per second.
    private var cachedDate: (second: Int64, text: String) = (-1, "")
    // The client closed its side while a write was in flight: answer, then close.
    private var isInputClosed = false
    // Parts of requests that arrived while the one ahead was being answered, and whether a
    // read was held back because of them.
    private var waiting = CircularBuffer<HTTPServerRequestPart>()
    private var isReadHeld = false
    // Set while `handleWaiting` runs: an answer that completes at once then returns to its loop
    // instead of starting another (which would recurse once per waiting request).
    private var isHandlingWaiting = false
    // A malformed request came in behind requests still being answered: it gets its 400 after them.
    private var isMalformedBehind = false
    // A graceful stop asked connections to close: the answer in flight is the last.
    private var isQuiescing = false

    init(api: V1API, limits: HTTPLimits) {
        self.api = api
        self.limits = limits
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(limits.idleTimeout, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        if case .answering(let cancel) = state { cancel?() }
        state = .closing
        context.fireChannelInactive()
    }

    /// A malformed request (the decoder reads nothing after it) gets 400 and the connection
    /// closes, once the requests ahead of it are answered: answers go in order. A broken socket
    /// ends the connection at once.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            if case .answering(let cancel?) = state { cancel() }
            return closeNow(context: context)
        }
        switch state {
        case .answering: isMalformedBehind = true
        case .idle, .receiving: refuseMalformed(context: context)
        case .closing: break
        }
    }

    private func refuseMalformed(context: ChannelHandlerContext) {
        state = .closing
        waiting.removeAll()
        deadline?.cancel()
        let headers = HTTPHeaders([("Connection", "close"), ("Content-Length", "0")])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A client that stops sending while its watch waits has gone away (Go's server treats
        // EOF the same): withdraw the watcher now instead of holding it until the next change.
        // A write in flight is still answered before the connection closes.
        if let front = event as? FrontRequest {
            // A request the handler in front answers: no timeout while it does.
            switch front {
            case .started: phaseTimeout = nil
            case .ended: arm(limits.idleTimeout, context: context)
            }
            return
        }
        if event is RequestBytesArrived {
            // The first bytes of a request: from now on the (shorter) request timeout applies,
            // even while the headers trickle in.
            if case .idle = state, phaseTimeout == limits.idleTimeout { arm(limits.requestTimeout, context: context) }
            return
        }
        if event is ChannelShouldQuiesceEvent {
            // A graceful stop: an idle connection closes now, a busy one after its answer.
            if case .idle = state { closeNow(context: context) } else { isQuiescing = true }
            return
        }
        if event as? ChannelEvent == .inputClosed {
            switch state {
            case .answering(let cancel?):
                cancel()
                closeNow(context: context)
            case .answering(nil):
                isInputClosed = true
            case .idle, .receiving:
                closeNow(context: context)
            case .closing:
                break
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func closeNow(context: ChannelHandlerContext) {
        state = .closing
        deadline?.cancel()
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if waiting.isEmpty { context.read() } else { isReadHeld = true }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .answering = state {
            waiting.append(part)
        } else if waiting.isEmpty {
            handle(part, context: context)
        } else {
            waiting.append(part)
            handleWaiting(context: context)
        }
    }

    /// Handles the requests that waited, in order, until one has to wait for its answer.
    private func handleWaiting(context: ChannelHandlerContext) {
        guard !isHandlingWaiting else { return }
        isHandlingWaiting = true
        defer { isHandlingWaiting = false }
        while !waiting.isEmpty {
            switch state {
            case .answering: return
            case .closing: waiting.removeAll()
            case .idle, .receiving: handle(waiting.removeFirst(), context: context)
            }
        }
        if isMalformedBehind {
            switch state {
            case .idle, .receiving: return refuseMalformed(context: context)
            case .answering, .closing: return
            }
        }
        if isReadHeld {
            isReadHeld = false
            context.read()
        }
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (part, state) {
        case (.head(let head), .idle):
            arm(limits.requestTimeout, context: context)
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > limits.maxBodyBytes {
                refuseTooLarge(context: context, head: head)
            } else {
                state = .receiving(head, body: [])
                if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                    // curl sends this before a large body and would otherwise wait a second.
                    let interim = HTTPResponseHead(version: head.version, status: .continue)
                    context.writeAndFlush(wrapOutboundOut(.head(interim)), promise: nil)
                }
            }
        case (.body(var chunk), .receiving(let head, var body)):
            state = .closing  // drop the copy held by `state` so `body` grows in place
            guard body.count + chunk.readableBytes <= limits.maxBodyBytes else {
                return refuseTooLarge(context: context, head: head)
            }
            body.append(contentsOf: chunk.readBytes(length: chunk.readableBytes) ?? [])
            state = .receiving(head, body: body)
        case (.end, .receiving(let head, let body)):
            phaseTimeout = nil
            answer(head: head, body: body, context: context)
        default:
            break  // the rest of a request already refused
        }
    }

    private func answer(head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext) {
        let (request, cors) = api.request(head: head, body: body)
        switch api.handle(request, on: context.eventLoop) {
        case .now(let reply):
            send(reply, keepAlive: head.isKeepAlive, version: head.version, context: context, extraHeaders: cors)
        case .later(let future, let cancel):
            // A watch for a client that has closed its side: it has stopped waiting.
            if isInputClosed, let cancel {
                cancel()
                return closeNow(context: context)
            }
            state = .answering(cancel: cancel)
            future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                guard case .answering = self.state else { return }
                let reply = (try? result.get()) ?? .error(StoreError(.raftInternal, cause: "internal error"))
                self.send(reply, keepAlive: head.isKeepAlive, version: head.version, context: context, extraHeaders: cors)
                self.handleWaiting(context: context)
            }
        }
    }

    private func refuseTooLarge(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let error = StoreError(.invalidForm, cause: "request body exceeds \(limits.maxBodyBytes) bytes")
        send(V1Reply(status: .payloadTooLarge, body: V1JSON.encode(error)), keepAlive: false, version: head.version, context: context)
    }

    private func send(
        _ reply: V1Reply, keepAlive: Bool, version: HTTPVersion, context: ChannelHandlerContext, extraHeaders: [(String, String)] = []
    ) {
        let now = api.backend.now()
        let second = now.nanoseconds / 1_000_000_000
        if second != cachedDate.second { cachedDate = (second, now.httpDate) }
        // A client that sent its last request and closed its side gets the answers it asked
        // for (but a watch: see `answer`); a graceful stop lets the answer in flight be the last.
        let keepAlive = keepAlive && !isQuiescing && !(isInputClosed && waiting.isEmpty)
        let head = reply.responseHead(version: version, keepAlive: keepAlive, date: cachedDate.text, extraHeaders: extraHeaders)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !reply.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: reply.body)))), promise: nil)
        }
        if keepAlive {
            state = .idle
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            arm(limits.idleTimeout, context: context)
        } else {
            state = .closing
            deadline?.cancel()
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    /// Starts a phase (idle, or receiving a request) that may last at most `timeout`. The check
    /// runs at least every `min(requestTimeout, idleTimeout)`, so a phase is cut off between
    /// one and two of those intervals late at worst.
    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        phaseStarted = .now()
        phaseTimeout = timeout
        if deadline == nil { scheduleCheck(after: checkInterval, context: context) }
    }

    private var checkInterval: TimeAmount { min(limits.requestTimeout, limits.idleTimeout) }

    private func scheduleCheck(after delay: TimeAmount, context: ChannelHandlerContext) {
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            self.deadline = nil
            guard let timeout = self.phaseTimeout else { return }
            switch self.state {
            case .idle, .receiving:
                let remaining = self.phaseStarted + timeout - .now()
                if remaining <= .zero {
                    context.close(promise: nil)
                } else {
                    self.scheduleCheck(after: min(remaining, self.checkInterval), context: context)
                }
            case .answering, .closing:
                break
            }
        }
    }
}
