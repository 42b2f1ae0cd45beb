import NIOCore
import NIOHTTP1

/// What a later stage answers itself on the v1 API's HTTP/1 connections (Stage 4's JSON
/// gateway under `/v3/`, Stage 2's live view under `/debug/raft`), through a `FrontHandler`.
/// Called on the connection's event loop.
public protocol FrontResponder: AnyObject {
    /// Whether this request is answered here (the rest passes on to the v1 API).
    func handles(_ head: HTTPRequestHead) -> Bool
    /// Body bytes kept for `respond`; past it the body is counted, not kept (one byte more
    /// than the limit arrives, so the responder can refuse it as too large). 0: ignored.
    var bodyLimit: Int { get }
    /// Answers through `context` (writes from it go to the HTTP encoder) and calls `done` once
    /// the answer's end is written (any thread). A stream that never ends never calls it.
    func respond(to head: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext, done: @escaping @Sendable () -> Void)
    /// The client went: whatever is still being answered for it may stop.
    func connectionClosed()
}

/// Sits between the HTTP parser and the v1 API and hands a responder the requests it takes.
///
/// HTTP/1 answers must go out in the order requests came, and a client may pipeline: so one
/// request is handled at a time. A request for the responder waits until every request
/// passed on ahead of it is answered (those answers' ends are written through here, which is
/// how it knows), and whatever comes after it waits until its answer is written. While
/// requests wait, the connection is read no further than `heldLimit` parts. The v1 handler
/// behind is told (`FrontRequest`) while a request is taken here, so that its timeouts do not
/// close the connection under a long answer (a watch, an events stream).
public final class FrontHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    /// Parts held before the connection stops being read.
    static let heldLimit = 16

    private enum State {
        case idle
        case passing
        case collecting(HTTPRequestHead, [UInt8])
        case answering
    }

    private let responder: any FrontResponder
    private var state = State.idle
    // Parts not yet handled, oldest first, and where the parser gave up (a malformed request:
    // its 400 must come after the answers ahead of it, so it waits in line too).
    private enum Held {
        case part(HTTPServerRequestPart)
        case malformed(any Error)
    }
    private var held = CircularBuffer<Held>()
    private var isDraining = false
    private var isReadHeld = false
    // Requests passed on whose answers have not ended yet.
    private var passedAnswersDue = 0
    private var isClosed = false

    public init(_ responder: any FrontResponder) {
        self.responder = responder
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        held.append(.part(unwrapInboundIn(data)))
        drain(context: context)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else { return context.fireErrorCaught(error) }
        held.append(.malformed(error))
        drain(context: context)
    }

    /// Handles held parts in order for as long as they can be.
    private func drain(context: ChannelHandlerContext) {
        guard !isDraining else { return }
        isDraining = true
        // Taken off before it is handled: handling it may close the connection, which empties
        // the list.
        while let item = held.popFirst() {
            if !take(item, context: context) {
                held.prepend(item)
                break
            }
        }
        isDraining = false
        if isReadHeld && held.count < Self.heldLimit {
            isReadHeld = false
            context.read()
        }
    }

    /// Handles one part if its turn has come; false leaves it held.
    private func take(_ item: Held, context: ChannelHandlerContext) -> Bool {
        let part: HTTPServerRequestPart
        switch (item, state) {
        case (.malformed, .answering):
            return false
        case (.malformed(let error), .collecting):
            // The request being read here broke off: nothing will answer it but the 400.
            state = .idle
            context.fireUserInboundEventTriggered(FrontRequest.ended)
            context.fireErrorCaught(error)
            return true
        case (.malformed(let error), _):
            // Behind, the v1 handler answers 400 once its own answers ahead are written.
            context.fireErrorCaught(error)
            return true
        case (.part(let held), _):
            part = held
        }
        switch (part, state) {
        case (_, .answering):
            return false
        case (.head(let head), .idle), (.head(let head), .passing):
            if responder.handles(head) {
                guard passedAnswersDue == 0 else { return false }  // after the answers ahead of it
                state = .collecting(head, [])
                context.fireUserInboundEventTriggered(FrontRequest.started)
            } else {
                state = .passing
                passedAnswersDue += 1
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.body(var bytes), .collecting(let head, var body)):
            state = .answering  // let go of the array while appending, so it is not copied
            let limit = responder.bodyLimit
            if body.count < limit {
                body += bytes.readBytes(length: min(bytes.readableBytes, limit + 1 - body.count)) ?? []
            } else if limit > 0 && body.count == limit && bytes.readableBytes > 0 {
                body.append(0)  // one past the limit: too large, and nothing more is kept
            }
            state = .collecting(head, body)
        case (.end, .collecting(let head, let body)):
            state = .answering
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            responder.respond(to: head, body: body, context: context) {
                let answered: @Sendable () -> Void = {
                    let (handler, context) = bound.value
                    handler.answered(context: context)
                }
                // At once when on the loop (an answer written right away), so nothing else runs
                // in between; from elsewhere, hopping onto it.
                if bound.eventLoop.inEventLoop { answered() } else { bound.eventLoop.execute(answered) }
            }
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
        context.read()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // An answer from behind, to a request passed on: once the last one ends, a request for
        // the responder held behind it may go. (The responder's own writes start past this
        // handler and are not seen here.)
        let isEnd: Bool
        if case .end = unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
        context.write(data, promise: promise)
        if isEnd && passedAnswersDue > 0 {
            passedAnswersDue -= 1
            if passedAnswersDue == 0 { drain(context: context) }
        }
    }

    /// The responder's answer is written: the v1 handler may time the connection again, and
    /// requests that came meanwhile are handled.
    private func answered(context: ChannelHandlerContext) {
        guard !isClosed, case .answering = state else { return }
        state = .idle
        context.fireUserInboundEventTriggered(FrontRequest.ended)
        drain(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        held.removeAll()
        responder.connectionClosed()
        context.fireChannelInactive()
    }
}
