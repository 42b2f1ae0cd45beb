import EtcdAPI
import Foundation
import GRPCCore

/// etcd's Lock service (v3lockpb), as clientv3's Mutex: the lock `name` is the prefix
/// "name/"; a locker puts its key "name/<lease in hex>" on its lease and holds the lock once
/// every key created before its own is gone. The lease ends a lock whose holder died.
struct LockService: V3lockpb_Lock.SimpleServiceProtocol {
    let backend: V3Backend

    func lock(request: V3lockpb_LockRequest, context: ServerContext) async throws -> V3lockpb_LockResponse {
        let recipes = Recipes(backend: backend, caller: try CallIdentity.caller())
        let lease = try await recipes.sessionLease(request.lease)
        let prefix = Array(request.name) + Array("/".utf8)
        let key = Recipes.key(prefix: prefix, lease: lease)
        // Put the key if this lease holds none yet (a lease may ask again: it keeps its place),
        // and read who holds the lock, in one transaction.
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Recipes.compare(createRevisionOf: key, equals: 0)]
        txn.success = [Recipes.put(key, [], lease: lease), Recipes.get(Recipes.byCreation(prefix, first: true))]
        txn.failure = [Recipes.get(key), Recipes.get(Recipes.byCreation(prefix, first: true))]
        let answer = try await recipes.txn(txn)
        var created = answer.header.revision
        if !answer.succeeded, case .responseRange(let mine) = answer.responses[0].response, let kv = mine.kvs.first {
            created = kv.createRevision
        }
        var header = answer.header
        let owner: Mvccpb_KeyValue? = if case .responseRange(let range) = answer.responses[1].response { range.kvs.first } else { nil }
        if let owner, owner.createRevision != created {
            do {
                let before = created - 1
                header = try await untilCallCancelled(context) { try await recipes.waitDeletes(prefix, maxCreateRevision: before) }
            } catch {
                // Given up (the client went away): the place in the queue is given back.
                _ = try? await recipes.delete(key)
                throw error
            }
        }
        var response = V3lockpb_LockResponse()
        response.header = header
        response.key = Data(key)
        return response
    }

    func unlock(request: V3lockpb_UnlockRequest, context: ServerContext) async throws -> V3lockpb_UnlockResponse {
        let recipes = Recipes(backend: backend, caller: try CallIdentity.caller())
        var response = V3lockpb_UnlockResponse()
        response.header = try await recipes.delete(Array(request.key)).header
        return response
    }
}
