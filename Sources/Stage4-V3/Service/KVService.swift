import EtcdAPI
import GRPCCore

/// etcd's KV service: reads answered here (linearizable unless `serializable`), writes through
/// the Raft log.
struct KVService: Etcdserverpb_KV.SimpleServiceProtocol {
    let backend: V3Backend

    func range(request: Etcdserverpb_RangeRequest, context: ServerContext) async throws -> Etcdserverpb_RangeResponse {
        if !request.serializable {
            if backend.isLearner { throw V3Backend.rpcError(V3Error.notSupportedForLearner) }
            try await backend.confirmLinearizable()
        }
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

    func put(request: Etcdserverpb_PutRequest, context: ServerContext) async throws -> Etcdserverpb_PutResponse {
        let applied = try await backend.write(.put(request))
        guard case .put(var response) = applied.response else { throw RPCError(code: .internalError, message: "etcdserver: unexpected response") }
        response.header = backend.header(revision: applied.revision)
        return response
    }

    func deleteRange(request: Etcdserverpb_DeleteRangeRequest, context: ServerContext) async throws -> Etcdserverpb_DeleteRangeResponse {
        let applied = try await backend.write(.deleteRange(request))
        guard case .deleteRange(var response) = applied.response else { throw RPCError(code: .internalError, message: "etcdserver: unexpected response") }
        response.header = backend.header(revision: applied.revision)
        return response
    }

    func txn(request: Etcdserverpb_TxnRequest, context: ServerContext) async throws -> Etcdserverpb_TxnResponse {
        let applied = try await backend.write(.txn(request))
        guard case .txn(var response) = applied.response else { throw RPCError(code: .internalError, message: "etcdserver: unexpected response") }
        response.header = backend.header(revision: applied.revision)
        stampHeaders(&response.responses, revision: applied.revision)
        return response
    }

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

    func compact(request: Etcdserverpb_CompactionRequest, context: ServerContext) async throws -> Etcdserverpb_CompactionResponse {
        let applied = try await backend.write(.compact(request))
        var response = Etcdserverpb_CompactionResponse()
        response.header = backend.header(revision: applied.revision)
        return response
    }
}
