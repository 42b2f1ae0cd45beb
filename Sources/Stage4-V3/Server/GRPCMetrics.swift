import GRPCCore
import Metrics
import NIOCore
import Synchronization

/// go-grpc-prometheus' counters, which etcd exports: calls started, and calls handled by
/// status code, per service and method. A stream counts as handled once it is accepted.
/// With `--metrics extensive`, also the time each call took to handle
/// (`grpc_server_handling_seconds`, a histogram per method).
final class GRPCMetrics: ServerInterceptor {
    // Made once per method (and code): this runs for every call, so no names are built per call.
    private struct Key: Hashable {
        var method: String
        var code: RPCError.Code?
    }
    private let started = Mutex<[String: Counter]>([:])
    private let handled = Mutex<[Key: Counter]>([:])
    private let timers = Mutex<[String: Timer]>([:])
    /// Whether calls are timed (`--metrics extensive`): off, no clock is read per call.
    let timesCalls: Bool

    init(timesCalls: Bool = false) { self.timesCalls = timesCalls }

    /// Watch is a bidirectional stream, LeaseKeepAlive too; Snapshot streams from the server.
    static func type(of method: String) -> String {
        switch method {
        case "Watch", "LeaseKeepAlive": "bidi_stream"
        case "Snapshot": "server_stream"
        default: "unary"
        }
    }

    static func labels(_ descriptor: MethodDescriptor) -> [(String, String)] {
        [("grpc_type", type(of: descriptor.method)), ("grpc_service", descriptor.service.fullyQualifiedService), ("grpc_method", descriptor.method)]
    }

    func countStarted(_ descriptor: MethodDescriptor) {
        started.withLock { counters in
            if let counter = counters[descriptor.method] { return counter }
            let counter = Counter(label: "grpc_server_started_total", dimensions: Self.labels(descriptor))
            counters[descriptor.method] = counter
            return counter
        }.increment()
    }

    func countHandled(_ descriptor: MethodDescriptor, _ code: RPCError.Code?) {
        let key = Key(method: descriptor.method, code: code)
        handled.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "grpc_server_handled_total", dimensions: Self.labels(descriptor) + [("grpc_code", code.map(Self.name) ?? "OK")])
            counters[key] = counter
            return counter
        }.increment()
    }

    /// Records how long a call took, when calls are timed.
    func observe(_ descriptor: MethodDescriptor, startedAt start: NIODeadline) {
        let elapsed = NIODeadline.now() - start
        timers.withLock { timers in
            if let timer = timers[descriptor.method] { return timer }
            let timer = Timer(label: "grpc_server_handling_seconds", dimensions: Self.labels(descriptor))
            timers[descriptor.method] = timer
            return timer
        }.recordNanoseconds(elapsed.nanoseconds)
    }

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        countStarted(context.descriptor)
        let start = timesCalls ? NIODeadline.now() : nil
        defer { if let start { observe(context.descriptor, startedAt: start) } }
        do {
            let response = try await next(request, context)
            // A unary call that failed in its handler comes back as a failed response.
            switch response.accepted {
            case .success: countHandled(context.descriptor, nil)
            case .failure(let error): countHandled(context.descriptor, error.code)
            }
            return response
        } catch let error as RPCError {
            countHandled(context.descriptor, error.code)
            throw error
        }
    }

    /// gRPC's names for codes, as Go spells them.
    static func name(_ code: RPCError.Code) -> String {
        switch code {
        case .cancelled: "Canceled"
        case .unknown: "Unknown"
        case .invalidArgument: "InvalidArgument"
        case .deadlineExceeded: "DeadlineExceeded"
        case .notFound: "NotFound"
        case .alreadyExists: "AlreadyExists"
        case .permissionDenied: "PermissionDenied"
        case .resourceExhausted: "ResourceExhausted"
        case .failedPrecondition: "FailedPrecondition"
        case .aborted: "Aborted"
        case .outOfRange: "OutOfRange"
        case .unimplemented: "Unimplemented"
        case .internalError: "Internal"
        case .unavailable: "Unavailable"
        case .dataLoss: "DataLoss"
        case .unauthenticated: "Unauthenticated"
        default: "Unknown"
        }
    }
}

/// The gRPC call counters, shared by every client listener of a member.
public struct GRPCCallMetrics: Sendable {
    let interceptor: GRPCMetrics

    /// `extensive`: also time every call (`--metrics extensive`).
    public init(extensive: Bool = false) { interceptor = GRPCMetrics(timesCalls: extensive) }
}
