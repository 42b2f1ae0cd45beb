import GRPCCore
import Metrics
import Synchronization

/// go-grpc-prometheus' counters, which etcd exports: calls started, and calls handled by
/// status code, per service and method. A stream counts as handled once it is accepted.
final class GRPCMetrics: ServerInterceptor {
    private let counters = Mutex<[String: Counter]>([:])

    private func counter(_ name: String, _ dimensions: [(String, String)]) -> Counter {
        let key = name + dimensions.map { "/" + $0.1 }.joined()
        return counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: name, dimensions: dimensions)
            counters[key] = counter
            return counter
        }
    }

    /// Watch is a bidirectional stream, LeaseKeepAlive too; Snapshot streams from the server.
    static func type(of method: String) -> String {
        switch method {
        case "Watch", "LeaseKeepAlive": "bidi_stream"
        case "Snapshot": "server_stream"
        default: "unary"
        }
    }

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.method
        let labels = [("grpc_type", Self.type(of: method)), ("grpc_service", context.descriptor.service.fullyQualifiedService), ("grpc_method", method)]
        counter("grpc_server_started_total", labels).increment()
        do {
            let response = try await next(request, context)
            // A unary call that failed in its handler comes back as a failed response.
            let code: String
            switch response.accepted {
            case .success: code = "OK"
            case .failure(let error): code = Self.name(error.code)
            }
            counter("grpc_server_handled_total", labels + [("grpc_code", code)]).increment()
            return response
        } catch let error as RPCError {
            counter("grpc_server_handled_total", labels + [("grpc_code", Self.name(error.code))]).increment()
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
    let interceptor = GRPCMetrics()
    public init() {}
}
