import EtcdAPI
import GRPCCore
import NIOCore
import NIOPosix

/// etcd's KV calls: reads answered here (linearizable unless `serializable`), writes through
/// the Raft log. Each returns a future on the caller's event loop, so that `UnaryFastPath` can
/// serve it on the HTTP/2 stream's own loop without a task; `KVService` awaits the same calls.
struct KVCalls: Sendable {
    let backend: V3Backend

    func range(_ request: Etcdserverpb_RangeRequest, on loop: any EventLoop, as caller: AuthInfo?) -> EventLoopFuture<Etcdserverpb_RangeResponse> {
        if request.serializable { return loop.makeCompletedFuture { try read(request, as: caller) } }
        if backend.isLearner { return loop.makeFailedFuture(V3Backend.rpcError(V3Error.notSupportedForLearner)) }
        return backend.startConfirmingLinearizable().hop(to: loop).flatMapThrowing { try read(request, as: caller) }
    }

    private func read(_ request: Etcdserverpb_RangeRequest, as caller: AuthInfo?) throws(RPCError) -> Etcdserverpb_RangeResponse {
        let (outcome, revision) = backend.machine.read { store -> (Result<Etcdserverpb_RangeResponse, V3Error>, Int64) in
            do throws(V3Error) {
                // Checked under the same lock as the read, so against the same auth store;
                // a request without a key is refused first, as etcd's API layer does.
                guard !request.key.isEmpty else { throw V3Error.emptyKey }
                try store.auth.check(.read, key: Array(request.key), rangeEnd: Array(request.rangeEnd), as: caller ?? .nobody)
                return (.success(try store.range(request)), store.revision)
            } catch {
                return (.failure(error), store.revision)
            }
        }
        var answer: Etcdserverpb_RangeResponse
        switch outcome {
        case .success(let response): answer = response
        case .failure(let error): throw V3Backend.rpcError(error)
        }
        answer.header = backend.header(revision: revision)
        return answer
    }

    func put(_ request: Etcdserverpb_PutRequest, on loop: any EventLoop, as caller: AuthInfo?) -> EventLoopFuture<Etcdserverpb_PutResponse> {
        backend.startWrite(.put(request), from: .client(caller)).hop(to: loop).flatMapThrowing { applied in
            guard case .put(var response) = applied.response else { throw Self.unexpected }
            response.header = backend.header(revision: applied.revision)
            return response
        }
    }

    func deleteRange(_ request: Etcdserverpb_DeleteRangeRequest, on loop: any EventLoop, as caller: AuthInfo?) -> EventLoopFuture<Etcdserverpb_DeleteRangeResponse> {
        backend.startWrite(.deleteRange(request), from: .client(caller)).hop(to: loop).flatMapThrowing { applied in
            guard case .deleteRange(var response) = applied.response else { throw Self.unexpected }
            response.header = backend.header(revision: applied.revision)
            return response
        }
    }

    func txn(_ request: Etcdserverpb_TxnRequest, on loop: any EventLoop, as caller: AuthInfo?) -> EventLoopFuture<Etcdserverpb_TxnResponse> {
        backend.startWrite(.txn(request), from: .client(caller)).hop(to: loop).flatMapThrowing { applied in
            guard case .txn(var response) = applied.response else { throw Self.unexpected }
            response.header = backend.header(revision: applied.revision)
            stampHeaders(&response.responses, revision: applied.revision)
            return response
        }
    }

    func compact(_ request: Etcdserverpb_CompactionRequest, on loop: any EventLoop, as caller: AuthInfo?) -> EventLoopFuture<Etcdserverpb_CompactionResponse> {
        backend.startWrite(.compact(request), from: .client(caller)).hop(to: loop).map { applied in
            var response = Etcdserverpb_CompactionResponse()
            response.header = backend.header(revision: applied.revision)
            return response
        }
    }

    static let unexpected = RPCError(code: .internalError, message: "etcdserver: unexpected response")

    /// Nested responses carry a header with the revision alone, as etcd's do.
    private func stampHeaders(_ responses: inout [Etcdserverpb_ResponseOp], revision: Int64) {
        var header = Etcdserverpb_ResponseHeader()
        header.revision = revision
        for position in responses.indices {
            switch responses[position].response {
            case .responseRange(var inner):
                inner.header = header
                responses[position].response = .responseRange(inner)
            case .responsePut(var inner):
                inner.header = header
                responses[position].response = .responsePut(inner)
            case .responseDeleteRange(var inner):
                inner.header = header
                responses[position].response = .responseDeleteRange(inner)
            case .responseTxn(var inner):
                inner.header = header
                stampHeaders(&inner.responses, revision: revision)
                responses[position].response = .responseTxn(inner)
            case nil:
                break
            }
        }
    }
}

/// The KV service as grpc-swift serves it: the calls `UnaryFastPath` does not take (a
/// compressed request, say) come here.
struct KVService: Etcdserverpb_KV.SimpleServiceProtocol {
    let calls: KVCalls
    // Any loop will do: the answer is awaited, not written from a loop.
    private var loop: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }

    func range(request: Etcdserverpb_RangeRequest, context: ServerContext) async throws -> Etcdserverpb_RangeResponse {
        try await calls.range(request, on: loop, as: try CallIdentity.caller()).get()
    }

    func put(request: Etcdserverpb_PutRequest, context: ServerContext) async throws -> Etcdserverpb_PutResponse {
        try await calls.put(request, on: loop, as: try CallIdentity.caller()).get()
    }

    func deleteRange(request: Etcdserverpb_DeleteRangeRequest, context: ServerContext) async throws -> Etcdserverpb_DeleteRangeResponse {
        try await calls.deleteRange(request, on: loop, as: try CallIdentity.caller()).get()
    }

    func txn(request: Etcdserverpb_TxnRequest, context: ServerContext) async throws -> Etcdserverpb_TxnResponse {
        try await calls.txn(request, on: loop, as: try CallIdentity.caller()).get()
    }

    func compact(request: Etcdserverpb_CompactionRequest, context: ServerContext) async throws -> Etcdserverpb_CompactionResponse {
        try await calls.compact(request, on: loop, as: try CallIdentity.caller()).get()
    }
}
