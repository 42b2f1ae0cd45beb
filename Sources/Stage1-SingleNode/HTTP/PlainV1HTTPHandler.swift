import NIOCore
import NIOHTTP1

/// How a connection's HTTP/1 requests reach the v1 API.
public enum V1HTTPPath: String, Sendable, CaseIterable {
    /// NIO's own pipelining and error handlers in front of `PlainV1HTTPHandler`: the version
    /// to read first.
    case plain
    /// `V1HTTPHandler` (in `Fast/`), which keeps answers in order itself and never stops
    /// reading a connection that does not pipeline: what the daemons run.
    case fast
}

/// The v1 API's plain HTTP/1 handler: one request at a time, answered through `V1API`.
///
/// It leans on NIO for what HTTP/1 asks of a server: `HTTPServerPipelineHandler` (in front of
/// it) holds a pipelining client's next request until this one is answered, so answers go in
/// order, and a graceful stop (`ChannelShouldQuiesceEvent`: an idle connection closes at once,
/// a busy one after its answer), and `HTTPServerProtocolErrorHandler` answers a malformed
/// request 400. What is left here is the v1 API's own: the body limit, the request and idle
/// timeouts, and a watch withdrawn when its client goes away.
///
/// One difference from the fast handler a client could see: NIO's handler tells of a half-close
/// only after the requests it holds, so a watch with requests pipelined behind it, from a client
/// that then closes its side, is withdrawn when it fires rather than at once.
///
/// `V1HTTPHandler` does the same work without NIO's pipelining handler, which pauses and resumes
/// reading around every request; diff the two to see what that costs and saves
/// (the Stage 1 README, "Making it fast").
final class PlainV1HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
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
    // The one timer of the phase the connection is in: idle between requests, or receiving one.
    // A request being answered has none (a watch may wait for hours), nor one a front handler
    // answers.
    private var timer: Scheduled<Void>?
    private var timerPhase: TimerPhase?
    private enum TimerPhase { case idle, request }
    // A request refused as too large: the connection ends with the answer.
    private var closesAfterAnswer = false
    // The client closed its side while a request was being answered: answer, then close.
    private var isInputClosed = false
    // True while the end of an answer is being written. NIO's pipelining handler hands over the
    // next request it held from inside that write, so that request is answered on the next turn
    // of the loop instead: a long queue of requests answered at once would otherwise recurse
    // once per request and overflow the stack.
    private var isEnding = false

    init(api: V1API, limits: HTTPLimits) {
        self.api = api
        self.limits = limits
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(.idle, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        withdrawWatch()
        state = .closing
        context.fireChannelInactive()
    }

    /// Ends a watch waiting for its event: its client has gone. The state moves first, since a
    /// withdrawn watch's answer (an error) comes back at once and must not be sent.
    private func withdrawWatch() {
        guard case .answering(let cancel?) = state else { return }
        state = .closing
        cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            startTimer(.request, context: context)
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > limits.maxBodyBytes {
                return refuseTooLarge(head: head, context: context)
            }
            state = .receiving(head, body: [])
            if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                // curl sends this before a large body and would otherwise wait a second.
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        case (.body(var chunk), .receiving(let head, var body)):
            guard body.count + chunk.readableBytes <= limits.maxBodyBytes else { return refuseTooLarge(head: head, context: context) }
            body.append(contentsOf: chunk.readBytes(length: chunk.readableBytes) ?? [])
            state = .receiving(head, body: body)
        case (.end, .receiving(let head, let body)) where isEnding:
            cancelTimer()
            state = .answering(cancel: nil)
            context.eventLoop.assumeIsolated().execute {
                guard case .answering = self.state else { return }
                self.answer(head: head, body: body, context: context)
            }
        case (.end, .receiving(let head, let body)):
            cancelTimer()
            answer(head: head, body: body, context: context)
        default:
            break  // the rest of a request already refused
        }
    }

    private func answer(head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext) {
        let (request, cors) = api.request(head: head, body: body)
        switch api.handle(request, on: context.eventLoop) {
        case .now(let reply):
            send(reply, to: head, cors: cors, context: context)
        case .later(let future, let cancel):
            // A watch for a client that has closed its side: it has stopped waiting.
            if isInputClosed, let cancel {
                cancel()
                return close(context: context)
            }
            state = .answering(cancel: cancel)
            future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                guard case .answering = self.state else { return }
                let reply = (try? result.get()) ?? .error(StoreError(.raftInternal, cause: "internal error"))
                self.send(reply, to: head, cors: cors, context: context)
            }
        }
    }

    private func refuseTooLarge(head: HTTPRequestHead, context: ChannelHandlerContext) {
        let error = StoreError(.invalidForm, cause: "request body exceeds \(limits.maxBodyBytes) bytes")
        closesAfterAnswer = true  // the rest of the body is not read: the connection ends with this answer
        send(V1Reply(status: .payloadTooLarge, body: V1JSON.encode(error)), to: head, cors: [], context: context)
    }

    private func send(_ reply: V1Reply, to request: HTTPRequestHead, cors: [(String, String)], context: ChannelHandlerContext) {
        let keepAlive = request.isKeepAlive && !closesAfterAnswer && !isInputClosed
        let head = reply.responseHead(version: request.version, keepAlive: keepAlive, date: api.backend.now().httpDate, extraHeaders: cors)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !reply.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: reply.body)))), promise: nil)
        }
        // The state moves on before the end goes out: NIO's pipelining handler hands over the
        // next request it held as soon as it sees this answer end.
        if keepAlive {
            state = .idle
            startTimer(.idle, context: context)
            isEnding = true
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            isEnding = false
        } else {
            state = .closing
            cancelTimer()
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let front as FrontRequest:
            // A request the handler in front answers: no timeout while it does.
            if front == .started { cancelTimer() } else { startTimer(.idle, context: context) }
        case is RequestBytesArrived:
            // A request's first bytes: the (shorter) request timeout applies from now on, and
            // runs on through the rest of its bytes.
            if timerPhase == .idle { startTimer(.request, context: context) }
        case ChannelEvent.inputClosed:
            // The client will send nothing more. A watch waiting for it has lost its client
            // (withdraw it); any other answer in flight still goes out before the close.
            switch state {
            case .answering(_?):
                withdrawWatch()
                close(context: context)
            case .answering(nil):
                isInputClosed = true
            case .idle, .receiving:
                close(context: context)
            case .closing:
                break
            }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        withdrawWatch()
        guard error is HTTPParserError else { return close(context: context) }
        // A malformed request has had its 400 from NIO's error handler, in front, which leaves
        // the close to us (its pipelining handler holds the error until the answers ahead are
        // written): the output closes once all of that has gone out, then the connection.
        state = .closing
        cancelTimer()
        let outputClosed = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: outputClosed)
        outputClosed.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func close(context: ChannelHandlerContext) {
        state = .closing
        cancelTimer()
        context.close(promise: nil)
    }

    /// The connection closes if the phase it is in now (idle, or receiving a request) lasts
    /// longer than its timeout.
    private func startTimer(_ phase: TimerPhase, context: ChannelHandlerContext) {
        timer?.cancel()
        timerPhase = phase
        let timeout = phase == .idle ? limits.idleTimeout : limits.requestTimeout
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { context.close(promise: nil) }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        timerPhase = nil
    }
}
