import GRPCCore

/// What etcd's interceptors refuse before a call runs, for every method.
/// - A learner serves only what cannot mislead: status, and reads that do not promise to be
///   current (serializable Range, checked in KVCalls). Everything else, streams included, gets
///   etcd's "rpc not supported for learner".
/// - Every call runs with its caller's identity (`CallIdentity`), or the reason its token was
///   refused, for the calls that ask.
/// - A call with `hasleader: true` metadata (clientv3's WithRequireLeader) fails with "no
///   leader" when this member knows none, rather than waiting for one.
struct CallGate: ServerInterceptor {
    let backend: V3Backend

    static let allowedForLearners: Set<String> = ["Status", "Range"]

    /// Shared with `UnaryFastPath`, which serves KV calls without interceptors.
    static func refusal(method: String, requiresLeader: Bool, backend: V3Backend) -> RPCError? {
        if backend.isLearner && !allowedForLearners.contains(method) { return V3Backend.rpcError(V3Error.notSupportedForLearner) }
        if requiresLeader && backend.raft.status.leader == 0 { return V3Backend.rpcError(V3Error.noLeader) }
        return nil
    }

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let requiresLeader = request.metadata[stringValues: "hasleader"].contains("true")
        if let refusal = Self.refusal(method: context.descriptor.method, requiresLeader: requiresLeader, backend: backend) { throw refusal }
        let identity = Result { () throws(RPCError) in try CallIdentity.resolve(request.metadata, backend: backend) }
        var response = try await CallIdentity.$resolved.withValue(identity) { try await next(request, context) }
        // A streaming call's body runs after `next` returns: it needs the identity too.
        if case .success(var contents) = response.accepted {
            let producer = contents.producer
            contents.producer = { writer in try await CallIdentity.$resolved.withValue(identity) { try await producer(writer) } }
            response.accepted = .success(contents)
        }
        return response
    }
}
