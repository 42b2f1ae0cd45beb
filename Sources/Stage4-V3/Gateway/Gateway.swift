import EtcdAPI
import Foundation
import GRPCCore
import GRPCInProcessTransport
import GRPCProtobuf
import SwiftProtobuf
import Synchronization

/// etcd's gRPC gateway: every v3 RPC as JSON over HTTP, on the client ports, under `/v3/` (and
/// `/v3beta/`, which etcd 3.4 still answers). As etcd's, it is a gRPC client of the server
/// itself: a JSON body becomes the request message, the call goes through the same services and
/// interceptors as any client's (here over an in-process transport, not a socket), and the
/// answer comes back as JSON in proto3's mapping, with the proto field names (grpc-gateway's
/// `OrigName`): 64-bit integers as strings, bytes as base64, enums by name, zero values left out.
///
/// Streams: a server stream (snapshot, observe) is one JSON object per message, each
/// `{"result":…}` and a newline, as chunks; a bidirectional one (watch, keep-alive) takes the
/// request messages from the body, one JSON object after another, then streams its answers the
/// same way until the client goes.
public final class Gateway: Sendable {
    let client: GRPCClient<InProcessTransport.Client>
    private let tasks: [Task<Void, any Error>]
    let routes: [String: Route]

    /// The largest request message taken, as the gRPC server's receive limit (etcd:
    /// `--max-request-bytes` plus 512 KiB).
    let maxMessageSize: Int

    /// The calls running, so that an HTTP client that goes ends its call on the server too.
    let calls = GatewayCalls()

    init(services: [any RegistrableRPCService], interceptors: [any ServerInterceptor], maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
        let transport = InProcessTransport()
        let server = GRPCServer(transport: transport.server, services: services, interceptors: [calls.interceptor] + interceptors)
        client = GRPCClient(transport: transport.client)
        let client = self.client
        tasks = [Task { try await server.serve() }, Task { try await client.runConnections() }]
        var routes: [String: Route] = [:]
        for (path, route) in Self.table { routes[path] = route }
        self.routes = routes
    }

    func stop() {
        client.beginGracefulShutdown()
        for task in tasks { task.cancel() }
    }

    /// The route for a request path: `/v3beta/…` is `/v3/…`, as etcd 3.4 rewrites it.
    func route(_ path: String) -> Route? {
        for alias in ["/v3beta/", "/v3alpha/"] where path.hasPrefix(alias) { return routes["/v3/" + path.dropFirst(alias.count)] }
        return routes[path]
    }

    static func handles(_ path: String) -> Bool { path.hasPrefix("/v3/") || path.hasPrefix("/v3beta/") || path.hasPrefix("/v3alpha/") }

    /// One gateway path: how to run its call from a JSON body, writing the answer to `out`.
    struct Route: Sendable {
        let run: @Sendable (_ gateway: Gateway, _ body: [UInt8], _ metadata: Metadata, _ out: any GatewayOutput) async -> Void
    }

    // MARK: Calls

    /// Unknown fields are ignored, as etcd's gateway ignores them.
    static var decoding: JSONDecodingOptions {
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        return options
    }
    static var encoding: JSONEncodingOptions {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        return options
    }

    /// A JSON body as a request message; an empty body is the empty request, as grpc-gateway reads it.
    static func decode<Request: SwiftProtobuf.Message>(_ body: [UInt8], as: Request.Type) throws(RPCError) -> Request {
        guard body.contains(where: { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }) else { return Request() }
        // Syntax first, in the words of Go's decoder (what etcd's gateway answers); like it,
        // only the first value is read, and it must be an object (or null).
        let kind: String
        do { kind = try GoJSONSyntax.check(body) } catch { throw RPCError(code: .invalidArgument, message: error.message) }
        if kind == "null" { return Request() }
        guard kind == "object" else {
            throw RPCError(code: .invalidArgument, message: "json: cannot unmarshal \(kind) into Go value of type map[string]json.RawMessage")
        }
        do { return try Request(jsonUTF8Bytes: firstValue(body), options: decoding) } catch {
            throw RPCError(code: .invalidArgument, message: "\(error)")
        }
    }

    /// The body up to the end of its first JSON value (Go's decoder reads no further).
    static func firstValue(_ body: [UInt8]) -> [UInt8] {
        var depth = 0, inString = false, escaped = false
        for (position, byte) in body.enumerated() {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            if byte == UInt8(ascii: "\"") { inString = true }
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
            if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                depth -= 1
                if depth == 0 { return Array(body[...position]) }
            }
        }
        return body
    }

    static func json(_ message: some SwiftProtobuf.Message) -> [UInt8] {
        (try? message.jsonUTF8Bytes(options: encoding)) ?? Array("{}".utf8)
    }

    static func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ descriptor: MethodDescriptor, _: Request.Type, _: Response.Type
    ) -> Route {
        Route { gateway, body, metadata, out in
            do {
                let request = try decode(body, as: Request.self)
                try gateway.checkSize(request, body: body)
                let response: Response = try await gateway.client.unary(
                    request: ClientRequest(message: request, metadata: metadata), descriptor: descriptor,
                    serializer: ProtobufSerializer<Request>(), deserializer: ProtobufDeserializer<Response>(), options: .defaults
                ) { try $0.message }
                await out.answer(status: 200, body: json(response))
            } catch {
                await out.fail(error as? RPCError ?? RPCError(code: .unknown, message: "\(error)"))
            }
        }
    }

    static func serverStreaming<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ descriptor: MethodDescriptor, _: Request.Type, _: Response.Type
    ) -> Route {
        Route { gateway, body, metadata, out in
            do {
                let request = try decode(body, as: Request.self)
                try await gateway.client.serverStreaming(
                    request: ClientRequest(message: request, metadata: metadata), descriptor: descriptor,
                    serializer: ProtobufSerializer<Request>(), deserializer: ProtobufDeserializer<Response>(), options: .defaults
                ) { response in try await stream(response, to: out) }
            } catch {
                await out.fail(error as? RPCError ?? RPCError(code: .unknown, message: "\(error)"))
            }
        }
    }

    static func bidirectional<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ descriptor: MethodDescriptor, _: Request.Type, _: Response.Type
    ) -> Route {
        Route { gateway, body, metadata, out in
            do {
                let requests = try decodeSequence(body, as: Request.self)
                try await gateway.client.bidirectionalStreaming(
                    request: StreamingClientRequest(metadata: metadata) { writer in
                        for request in requests { try await writer.write(request) }
                    },
                    descriptor: descriptor, serializer: ProtobufSerializer<Request>(), deserializer: ProtobufDeserializer<Response>(),
                    options: .defaults
                ) { response in try await stream(response, to: out) }
            } catch {
                await out.fail(error as? RPCError ?? RPCError(code: .unknown, message: "\(error)"))
            }
        }
    }

    /// What the gRPC server says of a message over its limit (the in-process transport has none).
    func checkSize(_ request: some SwiftProtobuf.Message, body: [UInt8]) throws(RPCError) {
        // A message is never larger than its JSON: only a large body needs measuring.
        guard body.count > maxMessageSize, let bytes: [UInt8] = try? request.serializedBytes(), bytes.count > maxMessageSize else { return }
        throw RPCError(code: .resourceExhausted, message: "grpc: received message larger than max (\(bytes.count) vs. \(maxMessageSize))")
    }

    /// Each message as `{"result":…}` and a newline; an error that ends the stream as
    /// `{"error":{…}}`, as grpc-gateway writes them.
    static func stream<Response: SwiftProtobuf.Message>(_ response: StreamingClientResponse<Response>, to out: any GatewayOutput) async throws {
        var began = false
        do {
            for try await message in response.messages {
                began = true
                await out.chunk(Array(#"{"result":"#.utf8) + json(message) + Array("}\n".utf8))
            }
            await out.finish()
        } catch {
            let failure = error as? RPCError ?? RPCError(code: .unknown, message: "\(error)")
            // Before the first chunk, an error is a whole answer; after it, the stream's last chunk.
            if began { await out.streamFailed(failure) } else { await out.fail(failure) }
        }
    }

    /// A body of JSON objects one after another (a streaming call's requests).
    static func decodeSequence<Request: SwiftProtobuf.Message>(_ body: [UInt8], as: Request.Type) throws(RPCError) -> [Request] {
        var requests: [Request] = []
        var depth = 0, inString = false, escaped = false, start: Int?
        for (position, byte) in body.enumerated() {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"):
                if depth == 0 { start = position }
                depth += 1
            case UInt8(ascii: "}"):
                depth -= 1
                if depth == 0, let first = start {
                    requests.append(try decode(Array(body[first...position]), as: Request.self))
                    start = nil
                }
                if depth < 0 { throw RPCError(code: .invalidArgument, message: "invalid character '}' looking for beginning of value") }
            case 0x20, 0x09, 0x0a, 0x0d: break
            default:
                if depth == 0 { throw RPCError(code: .invalidArgument, message: "invalid character '\(Character(UnicodeScalar(byte)))' looking for beginning of value") }
            }
        }
        if depth != 0 { throw RPCError(code: .invalidArgument, message: "unexpected EOF") }
        return requests
    }
}

/// Where a gateway call writes its answer (`GatewayResponder` on a connection).
protocol GatewayOutput: Sendable {
    /// A whole answer: status and JSON body.
    func answer(status: Int, body: [UInt8]) async
    /// One piece of a streamed answer (the first one sends 200 and chunked headers).
    func chunk(_ bytes: [UInt8]) async
    /// The streamed answer is complete.
    func finish() async
}

extension GatewayOutput {
    /// A failed call, as grpc-gateway answers it: `{"error":…,"message":…,"code":…}` with the
    /// HTTP status for its gRPC code.
    func fail(_ error: RPCError) async {
        await answer(status: Self.httpStatus(error.code), body: Self.errorBody(error))
    }

    /// A stream that fails after it began: its last chunk says why.
    func streamFailed(_ error: RPCError) async {
        let status = Self.httpStatus(error.code)
        let text = Self.quoted(error.message)
        await chunk(Array(#"{"error":{"grpc_code":\#(error.code.rawValue),"http_code":\#(status),"message":\#(text),"http_status":"\#(Self.statusText(status))"}}"#.utf8) + [0x0a])
        await finish()
    }

    static func errorBody(_ error: RPCError) -> [UInt8] {
        let text = quoted(error.message)
        return Array(#"{"error":\#(text),"message":\#(text),"code":\#(error.code.rawValue)}"#.utf8)
    }

    static func quoted(_ text: String) -> String {
        (try? String(decoding: JSONEncoder().encode(text), as: UTF8.self)) ?? "\"\""
    }

    /// grpc-gateway's HTTPStatusFromCode.
    static func httpStatus(_ code: RPCError.Code) -> Int {
        switch code {
        case .cancelled: 408
        case .unknown: 500
        case .invalidArgument: 400
        case .deadlineExceeded: 504
        case .notFound: 404
        case .alreadyExists: 409
        case .permissionDenied: 403
        case .unauthenticated: 401
        case .resourceExhausted: 429
        case .failedPrecondition: 400
        case .aborted: 409
        case .outOfRange: 400
        case .unimplemented: 501
        case .internalError: 500
        case .unavailable: 503
        case .dataLoss: 500
        default: 500
        }
    }

    static func statusText(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 429: "Too Many Requests"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Internal Server Error"
        }
    }
}

/// The gateway's calls in flight, by the number the HTTP side gives each (in the metadata under
/// `key`): the in-process transport does not end a server's handler when its client gives up,
/// so the HTTP side cancels the call here when its connection closes, as grpc-go cancels a
/// call's context; handlers that wait (a lock, a campaign, a watch) stop at that signal
/// (`ServerContext.cancellation`) and give their place back.
final class GatewayCalls: Sendable {
    static let key = "etcd-swift-gateway-call"
    private let state = Mutex((next: UInt64(1), running: [UInt64: ServerContext.RPCCancellationHandle](), cancelled: Set<UInt64>()))

    func next() -> UInt64 {
        state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
    }

    func finished(_ id: UInt64) {
        state.withLock { state in
            state.running[id] = nil
            state.cancelled.remove(id)
        }
    }

    func cancel(_ id: UInt64) {
        let handle = state.withLock { state in
            // Not begun yet on the server: it is cancelled as it begins.
            if state.running[id] == nil { state.cancelled.insert(id) }
            return state.running.removeValue(forKey: id)
        }
        handle?.cancel()
    }

    private func begin(_ id: UInt64, _ handle: ServerContext.RPCCancellationHandle) {
        let cancelled = state.withLock { state in
            if state.cancelled.remove(id) != nil { return true }
            state.running[id] = handle
            return false
        }
        if cancelled { handle.cancel() }
    }

    var interceptor: any ServerInterceptor { Interceptor(calls: self) }

    private struct Interceptor: ServerInterceptor {
        let calls: GatewayCalls

        func intercept<Input: Sendable, Output: Sendable>(
            request: StreamingServerRequest<Input>, context: ServerContext,
            next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
        ) async throws -> StreamingServerResponse<Output> {
            if let id = request.metadata[stringValues: GatewayCalls.key].first(where: { _ in true }).flatMap(UInt64.init) {
                calls.begin(id, context.cancellation)
            }
            return try await next(request, context)
        }
    }
}

/// Runs `work` until it finishes or the call is cancelled (its client went away), whichever
/// comes first; a cancelled call throws `CancellationError` and its work is cancelled.
func untilCallCancelled<T: Sendable>(_ context: ServerContext, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await context.cancellation.cancelled
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw CancellationError() }
        return value
    }
}
