import GRPCCore

/// A learner serves only what cannot mislead: status, and reads that do not promise to be
/// current (serializable Range, checked in KVService). Everything else, streams included,
/// gets etcd's "rpc not supported for learner", as etcd's interceptor answers.
struct LearnerGate: ServerInterceptor {
    let backend: V3Backend

    static let allowed: Set<String> = ["Status", "Range"]

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if backend.isLearner && !Self.allowed.contains(context.descriptor.method) {
            throw V3Backend.rpcError(V3Error.notSupportedForLearner)
        }
        return try await next(request, context)
    }
}
