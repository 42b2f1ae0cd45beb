import EtcdAPI
import GRPCCore
import NIOCore
import NIOPosix

/// etcd's KV calls: reads answered here (linearizable unless `serializable`), writes through
/// the Raft log. Each returns a future on the caller's event loop, so that `UnaryFastPath` can
/// serve it on the HTTP/2 stream's own loop without a task; `KVService` awaits the same calls.
struct KVCalls: Sendable {
    let backend: V3Backend

    func range(_ request: Etcdserverpb_RangeRequest, on loop: any EventLoop) -> EventLoopFuture<Etcdserverpb_RangeResponse> {
        if request.serializable { return loop.makeCompletedFuture { try read(request) } }
        if backend.isLearner { return loop.makeFailedFuture(V3Backend.rpcError(V3Error.notSupportedForLearner)) }
        return backend.startConfirmingLinearizable().hop(to: loop).flatMapThrowing { try read(request) }
    }

    private func read(_ request: Etcdserverpb_RangeRequest) throws(RPCError) -> Etcdserverpb_RangeResponse {
        let (outcome, revision) = backend.machine.read { store -> (Result<Etcdserverpb_RangeResponse, V3Error>, Int64) in
            do throws(V3Error) {
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

    func put(_ request: Etcdserverpb_PutRequest, on loop: any EventLoop) -> EventLoopFuture<Etcdserverpb_PutResponse> {
        backend.startWrite(.put(request)).hop(to: loop).flatMapThrowing { applied in
            guard case .put(var response) = applied.response else { throw Self.unexpected }
            response.header = backend.header(revision: applied.revision)
            return response
        }
    }

    func deleteRange(_ request: Etcdserverpb_DeleteRangeRequest, on loop: any EventLoop) -> EventLoopFuture<Etcdserverpb_DeleteRangeResponse> {
        backend.startWrite(.deleteRange(request)).hop(to: loop).flatMapThrowing { applied in
            guard case .deleteRange(var response) = applied.response else { throw Self.unexpected }
            response.header = backend.header(revision: applied.revision)
            return response
        }
    }

    func txn(_ request: Etcdserverpb_TxnRequest, on loop: any EventLoop) -> EventLoopFuture<Etcdserverpb_TxnResponse> {
        backend.startWrite(.txn(request)).hop(to: loop).flatMapThrowing { applied in
            guard case .txn(var response) = applied.response else { throw Self.unexpected }
            response.header = backend.header(revision: applied.revision)
            stampHeaders(&response.responses, revision: applied.revision)
            return response
        }
    }

    func compact(_ request: Etcdserverpb_CompactionRequest, on loop: any EventLoop) -> EventLoopFuture<Etcdserverpb_CompactionResponse> {
        backend.startWrite(.compact(request)).hop(to: loop).map { applied in
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
        try await calls.range(request, on: loop).get()
    }

    func put(request: Etcdserverpb_PutRequest, context: ServerContext) async throws -> Etcdserverpb_PutResponse {
        try await calls.put(request, on: loop).get()
    }

    func deleteRange(request: Etcdserverpb_DeleteRangeRequest, context: ServerContext) async throws -> Etcdserverpb_DeleteRangeResponse {
        try await calls.deleteRange(request, on: loop).get()
    }

    func txn(request: Etcdserverpb_TxnRequest, context: ServerContext) async throws -> Etcdserverpb_TxnResponse {
        try await calls.txn(request, on: loop).get()
    }

    func compact(request: Etcdserverpb_CompactionRequest, context: ServerContext) async throws -> Etcdserverpb_CompactionResponse {
        try await calls.compact(request, on: loop).get()
    }
}
