import EtcdAPI
import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import SwiftProtobuf

/// Serves the KV calls (etcd's hot path: every put, get, delete and txn) on the HTTP/2 stream's
/// own event loop, with no task, no async stream and no executor hop per call.
///
/// Why: handing a call to Swift concurrency (a task per stream, the request and the response
/// each crossing between the event loop and the task) costs more, on two cores, than our store
/// and log do: a serializable get took 1.0 ms against etcd's 0.4. Here a call is a chain of
/// futures: the request is decoded on the stream's loop, a write goes to the Raft loop and its
/// answer comes back to the stream's loop, once, to be encoded and written.
///
/// It sits first in each stream's pipeline (`ClientPortTransport` puts it there). A stream it
/// does not take (another service, a compressed request, JSON) is passed on untouched to
/// `GRPCStreamBridge` behind it, and it steps aside; grpc-swift's server runs those, so every
/// method stays registered there too.
///
/// A `grpc-timeout` is not enforced here: the client enforces its own deadline (and resets
/// the stream), and a write that does not apply fails after the server's request timeout.
final class UnaryFastPath: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum State {
        case waitingForHeaders
        case receiving(UnaryRoute, body: ByteBuffer?, caller: AuthInfo?)
        case answering
    }

    private var state = State.waitingForHeaders
    private var isClosed = false
    private let routes: UnaryRoutes
    private let metrics: GRPCMetrics?
    private let maxRequestSize: Int
    // When the call started, for `--metrics extensive` only.
    private var startedAt: NIODeadline?

    init(routes: UnaryRoutes, metrics: GRPCMetrics?, maxRequestSize: Int) {
        self.routes = routes
        self.metrics = metrics
        self.maxRequestSize = maxRequestSize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        switch state {
        case .waitingForHeaders:
            guard case .headers(let headers) = payload, let route = routes.route(for: headers.headers) else {
                // Not ours: grpc-swift's handlers, behind this one, take the whole stream.
                context.fireChannelRead(data)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
            metrics?.countStarted(route.descriptor)
            if metrics?.timesCalls == true { startedAt = .now() }
            let caller: AuthInfo?
            do throws(RPCError) {
                if let refusal = routes.refusal(route, headers.headers) { throw refusal }
                caller = try routes.identify(headers.headers)
            } catch {
                return answer(.failure(error), route: route, context: context)
            }
            if headers.endStream {
                call(route, body: nil, caller: caller, context: context)
            } else {
                state = .receiving(route, body: nil, caller: caller)
            }
        case .receiving(let route, var body, let caller):
            switch payload {
            case .data(let frame):
                guard case .byteBuffer(var bytes) = frame.data else { return }
                if body == nil { body = bytes } else { body!.writeBuffer(&bytes) }
                if body!.readableBytes > maxRequestSize + 5 {
                    let message = "grpc: received message larger than max (\(body!.readableBytes - 5) vs. \(maxRequestSize))"
                    answer(.failure(RPCError(code: .resourceExhausted, message: message)), route: route, context: context)
                } else if frame.endStream {
                    call(route, body: body, caller: caller, context: context)
                } else {
                    state = .receiving(route, body: body, caller: caller)
                }
            case .headers(let trailers) where trailers.endStream:
                call(route, body: body, caller: caller, context: context)
            default:
                break
            }
        case .answering:
            break  // a unary call has one request; the answer is on its way
        }
    }

    /// Unwraps the request's one length-prefixed message and runs the call.
    private func call(_ route: UnaryRoute, body: ByteBuffer?, caller: AuthInfo?, context: ChannelHandlerContext) {
        state = .answering
        var body = body ?? ByteBuffer()
        guard let compressed = body.readInteger(as: UInt8.self), let length = body.readInteger(as: UInt32.self),
              let message = body.readBytes(length: Int(length)), body.readableBytes == 0
        else {
            // grpc-go's words for a request that is not exactly one message.
            return answer(.failure(RPCError(code: .internalError, message: "grpc: unexpected EOF")), route: route, context: context)
        }
        guard compressed == 0 else {
            let error = RPCError(code: .internalError, message: "grpc: compressed flag set with identity or empty encoding")
            return answer(.failure(error), route: route, context: context)
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        route.call(message, context.eventLoop, caller).hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = bound.value
            handler.answer(result, route: route, context: context)
        }
    }

    /// Writes the response and the status: headers, one message, trailers; or, for an error,
    /// one trailers-only HEADERS frame, as gRPC servers answer a failed call.
    private func answer(_ result: Result<[UInt8], any Error>, route: UnaryRoute, context: ChannelHandlerContext) {
        state = .answering
        if let startedAt { metrics?.observe(route.descriptor, startedAt: startedAt) }
        guard !isClosed else {
            // The client reset the stream: nobody is listening. etcd counts it as Canceled.
            metrics?.countHandled(route.descriptor, .cancelled)
            return
        }
        switch result {
        case .success(let message):
            context.write(wrapOutboundOut(GRPCFraming.headers()), promise: nil)
            context.write(wrapOutboundOut(GRPCFraming.message(message, allocator: context.channel.allocator)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(GRPCFraming.status(code: 0, message: "", trailersOnly: false)), promise: nil)
            metrics?.countHandled(route.descriptor, nil)
        case .failure(let error):
            let error = error as? RPCError ?? RPCError(code: .unknown, message: "\(error)")
            let status = GRPCFraming.status(code: error.code.rawValue, message: error.message, trailersOnly: true)
            context.writeAndFlush(wrapOutboundOut(status), promise: nil)
            metrics?.countHandled(route.descriptor, error.code)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        isClosed = true
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
