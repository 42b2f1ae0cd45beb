import EtcdAPI
import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import SwiftProtobuf

/// Serves the KV calls (etcd's hot path: every put, get, delete and txn) straight from a client
/// connection's HTTP/2 frames: no stream channel, no task and no executor hop per call.
///
/// Why: handing a call to Swift concurrency (a task per stream, the request and the response
/// each crossing between the event loop and the task) cost more, on two cores, than our store
/// and log do: a serializable get took 1.0 ms against etcd's 0.4. A stream channel per call
/// was the next cost: one member under 256 putting clients spent about a third of its CPU
/// making each call's channel and pipeline and passing its frames through them. Here a call
/// is an entry in a table and a chain of futures: the request is decoded on the connection's
/// loop, a write goes to the Raft loop and its answer comes back, once, to be encoded and
/// written as three frames.
///
/// It sits between the HTTP/2 handler and the stream multiplexer (`ClientPortTransport` puts it
/// there). A stream it does not take (another service, a compressed request, JSON) is passed on
/// whole to the multiplexer, which gives it a channel and hands it to grpc-swift's server; so
/// every method stays registered there too. Root-stream frames (pings, settings) and events
/// pass through.
///
/// A `grpc-timeout` is not enforced here: the client enforces its own deadline (and resets
/// the stream), and a write that does not apply fails after the server's request timeout.
final class UnaryFastPath: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private struct Call {
        let route: UnaryRoute
        var caller: AuthInfo?
        var body: ByteBuffer?
        /// Bytes taken since the stream's window was last opened again.
        var unacknowledged = 0
        /// Receiving the request, running the call, or answered (later frames are dropped).
        var phase = Phase.receiving
        /// When the call started, for `--metrics extensive` only.
        let startedAt: NIODeadline?
    }

    private enum Phase { case receiving, running, answered }

    /// The streams this handler serves, by ID, until HTTP/2 closes them.
    private var calls: [HTTP2StreamID: Call] = [:]
    private let routes: UnaryRoutes
    private let metrics: GRPCMetrics?
    private let maxRequestSize: Int
    private let windowSize: Int
    private let hooks: Hooks

    /// What the connection around this handler learns of its calls.
    struct Hooks {
        /// The Common Name the connection's TLS handshake verified, if any: a call runs as it.
        var verifiedName: () -> String? = { nil }
        /// A call began, and ended (its stream closed): a server shutting down waits for them.
        var opened: () -> Void = {}
        var closed: () -> Void = {}
    }

    init(routes: UnaryRoutes, metrics: GRPCMetrics?, maxRequestSize: Int, windowSize: Int = 65_535, hooks: Hooks = Hooks()) {
        self.routes = routes
        self.metrics = metrics
        self.maxRequestSize = maxRequestSize
        self.windowSize = windowSize
        self.hooks = hooks
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let id = frame.streamID
        guard var call = calls[id] else {
            // A new stream's first frame is its HEADERS: ours if its method is one we serve.
            guard case .headers(let headers) = frame.payload, let route = routes.route(for: headers.headers), id != .rootStream else {
                return context.fireChannelRead(data)
            }
            return begin(route, headers, on: id, context: context)
        }
        guard call.phase == .receiving else { return }
        switch frame.payload {
        case .data(let data):
            guard case .byteBuffer(var bytes) = data.data else { return }
            // What the frame took of the window: its bytes, and padding with its length byte.
            call.unacknowledged += bytes.readableBytes + (data.paddingBytes.map { $0 + 1 } ?? 0)
            if call.body == nil { call.body = bytes } else { call.body!.writeBuffer(&bytes) }
            calls[id] = call
            if call.body!.readableBytes > maxRequestSize + 5 {
                let message = "grpc: received message larger than max (\(call.body!.readableBytes - 5) vs. \(maxRequestSize))"
                return answer(.failure(RPCError(code: .resourceExhausted, message: message)), on: id, context: context, resetAfter: !data.endStream)
            }
            if data.endStream { return run(id, context: context) }
            // The client may send as much as the window allows, then waits: open it again
            // once half is taken, so a request as large as the limit is never stuck.
            if call.unacknowledged >= windowSize / 2 {
                calls[id]?.unacknowledged = 0
                context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: call.unacknowledged))), promise: nil)
            }
        case .headers(let trailers) where trailers.endStream:
            run(id, context: context)
        default:
            break  // priority, a window update; a reset ends the stream (`StreamClosedEvent`)
        }
    }

    private func begin(_ route: UnaryRoute, _ headers: HTTP2Frame.FramePayload.Headers, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        metrics?.countStarted(route.descriptor)
        calls[id] = Call(route: route, startedAt: metrics?.timesCalls == true ? .now() : nil)
        hooks.opened()
        // The name a verified certificate gives is the TLS session's to say, never the client's.
        var fields = headers.headers
        fields.remove(name: CallIdentity.commonNameHeader)
        if let name = hooks.verifiedName() { fields.add(name: CallIdentity.commonNameHeader, value: name) }
        do throws(RPCError) {
            if let refusal = routes.refusal(route, fields) { throw refusal }
            calls[id]!.caller = try routes.identify(fields)
        } catch {
            return answer(.failure(error), on: id, context: context)
        }
        if headers.endStream { run(id, context: context) }
    }

    /// Unwraps the request's one length-prefixed message and runs the call.
    private func run(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard let call = calls[id] else { return }
        calls[id]!.phase = .running
        calls[id]!.body = nil
        var body = call.body ?? ByteBuffer()
        guard let compressed = body.readInteger(as: UInt8.self), let length = body.readInteger(as: UInt32.self),
              let message = body.readBytes(length: Int(length)), body.readableBytes == 0
        else {
            // grpc-go's words for a request that is not exactly one message.
            return answer(.failure(RPCError(code: .internalError, message: "grpc: unexpected EOF")), on: id, context: context)
        }
        guard compressed == 0 else {
            let error = RPCError(code: .internalError, message: "grpc: compressed flag set with identity or empty encoding")
            return answer(.failure(error), on: id, context: context)
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        call.route.call(message, context.eventLoop, call.caller).hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = bound.value
            handler.answer(result, on: id, context: context)
        }
    }

    /// Writes the response and the status: headers, one message, trailers; or, for an error,
    /// one trailers-only HEADERS frame, as gRPC servers answer a failed call.
    private func answer(_ result: Result<[UInt8], any Error>, on id: HTTP2StreamID, context: ChannelHandlerContext, resetAfter: Bool = false) {
        // A stream reset while its call ran is gone, counted as cancelled: nobody listens.
        guard let call = calls[id] else { return }
        let route = call.route
        if let startedAt = call.startedAt { metrics?.observe(route.descriptor, startedAt: startedAt) }
        calls[id]!.phase = .answered
        calls[id]!.body = nil
        switch result {
        case .success(let message):
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: GRPCFraming.headers())), promise: nil)
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: GRPCFraming.message(message, allocator: context.channel.allocator))), promise: nil)
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: GRPCFraming.status(code: 0, message: "", trailersOnly: false))), promise: nil)
            metrics?.countHandled(route.descriptor, nil)
        case .failure(let error):
            let error = error as? RPCError ?? RPCError(code: .unknown, message: "\(error)")
            let status = GRPCFraming.status(code: error.code.rawValue, message: error.message, trailersOnly: true)
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: status)), promise: nil)
            metrics?.countHandled(route.descriptor, error.code)
        }
        // `resetAfter`: refused as too large before the request ended. The rest is not wanted,
        // and the client may be waiting for window to send it. RFC 9113 §8.1: a complete
        // response, then RST_STREAM with NO_ERROR. (Not for other early answers: a burst of
        // refusals would outrun NIOHTTP2's memory of streams it reset, and the DATA still on its
        // way for one it forgot would end the connection.)
        if resetAfter {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.noError))), promise: nil)
        }
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Events of the streams served here stop here: the multiplexer behind knows none of them.
        switch event {
        case let closed as StreamClosedEvent:
            guard let call = calls.removeValue(forKey: closed.streamID) else { break }
            // The client reset the stream before it was answered: etcd counts it as Canceled.
            if call.phase != .answered { metrics?.countHandled(call.route.descriptor, .cancelled) }
            hooks.closed()
            return
        case let window as NIOHTTP2WindowUpdatedEvent where calls[window.streamID] != nil:
            return
        case let created as NIOHTTP2StreamCreatedEvent where calls[created.streamID] != nil:
            return
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        for call in calls.values {
            // Cut off with the connection: nobody will hear the answer (etcd: Canceled).
            if call.phase != .answered { metrics?.countHandled(call.route.descriptor, .cancelled) }
            hooks.closed()
        }
        calls = [:]
        context.fireChannelInactive()
    }
}

/// One unary method the fast path serves: from the request's bytes to the response's, on the
/// stream's event loop.
struct UnaryRoute: Sendable {
    let descriptor: MethodDescriptor
    let call: @Sendable (_ request: [UInt8], _ loop: any EventLoop, _ caller: AuthInfo?) -> EventLoopFuture<[UInt8]>

    init<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ service: String, _ method: String,
        _ call: @escaping @Sendable (Request, any EventLoop, AuthInfo?) -> EventLoopFuture<Response>
    ) {
        descriptor = MethodDescriptor(fullyQualifiedService: service, method: method)
        self.call = { bytes, loop, caller in
            let request: Request
            do {
                request = try Request(serializedBytes: bytes)
            } catch {
                return loop.makeFailedFuture(RPCError(code: .internalError, message: "grpc: error unmarshalling request: \(error)"))
            }
            return call(request, loop, caller).flatMapThrowing { try $0.serializedBytes() }
        }
    }
}

/// The methods the fast path takes, by HTTP/2 path, and the checks every call passes first.
struct UnaryRoutes: Sendable {
    private let byPath: [String: UnaryRoute]
    /// Why a call is refused before it runs (a learner, `hasleader` with no leader), if it is.
    let refusal: @Sendable (UnaryRoute, HPACKHeaders) -> RPCError?
    /// Who a call comes from (`CallIdentity`), or why its credentials are refused.
    let identify: @Sendable (HPACKHeaders) throws(RPCError) -> AuthInfo?

    init(
        _ routes: [UnaryRoute], refusal: @escaping @Sendable (UnaryRoute, HPACKHeaders) -> RPCError?,
        identify: @escaping @Sendable (HPACKHeaders) throws(RPCError) -> AuthInfo?
    ) {
        byPath = Dictionary(uniqueKeysWithValues: routes.map { ("/\($0.descriptor.fullyQualifiedMethod)", $0) })
        self.refusal = refusal
        self.identify = identify
    }

    /// The KV service's five methods, served by `calls`.
    static func kv(_ calls: KVCalls) -> UnaryRoutes {
        let service = "etcdserverpb.KV"
        return UnaryRoutes([
            UnaryRoute(service, "Range", calls.range),
            UnaryRoute(service, "Put", calls.put),
            UnaryRoute(service, "DeleteRange", calls.deleteRange),
            UnaryRoute(service, "Txn", calls.txn),
            UnaryRoute(service, "Compact", calls.compact),
        ], refusal: { route, headers in
            CallGate.refusal(method: route.descriptor.method, requiresLeader: headers.first(name: "hasleader") == "true", backend: calls.backend)
        }, identify: { headers throws(RPCError) in try CallIdentity.resolve(headers, backend: calls.backend) })
    }

    /// The route for a request's headers, if the fast path takes it: a POST of one of its
    /// methods, in protobuf, uncompressed.
    func route(for headers: HPACKHeaders) -> UnaryRoute? {
        guard let path = headers.first(name: ":path"), let route = byPath[path],
              headers.first(name: ":method") == "POST",
              let contentType = headers.first(name: "content-type"),
              contentType == "application/grpc" || contentType == "application/grpc+proto"
        else { return nil }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" { return nil }
        return route
    }
}
