import EtcdAPI
import Foundation
import GRPCCore

/// etcd's Election service (v3electionpb), as clientv3's Election: candidates for `name` put
/// "name/<lease in hex>" on their leases; the key created first leads, and its value is what
/// the leader proclaims. A `LeaderKey` (name, key, creation revision, lease) is what a leader
/// names itself by to proclaim or resign: it still leads only while that key, with that
/// creation revision, exists.
struct ElectionService: V3electionpb_Election.SimpleServiceProtocol {
    let backend: V3Backend

    /// etcd's words, sent as plain errors (code Unknown), as its election server sends them.
    static let notLeader = RPCError(code: .unknown, message: "election: not leader")
    static let noLeader = RPCError(code: .unknown, message: "election: no leader")
    static let missingLeaderKey = RPCError(code: .unknown, message: #""leader" field must be provided"#)

    private static func prefix(_ name: Data) -> [UInt8] { Array(name) + Array("/".utf8) }

    func campaign(request: V3electionpb_CampaignRequest, context: ServerContext) async throws -> V3electionpb_CampaignResponse {
        let recipes = Recipes(backend: backend, caller: try CallIdentity.caller())
        let lease = try await recipes.sessionLease(request.lease)
        let prefix = Self.prefix(request.name)
        let key = Recipes.key(prefix: prefix, lease: lease)
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Recipes.compare(createRevisionOf: key, equals: 0)]
        txn.success = [Recipes.put(key, Array(request.value), lease: lease)]
        txn.failure = [Recipes.get(key)]
        let answer = try await recipes.txn(txn)
        var leader = V3electionpb_LeaderKey()
        leader.name = request.name
        leader.key = Data(key)
        leader.rev = answer.header.revision
        leader.lease = lease
        if !answer.succeeded, case .responseRange(let mine) = answer.responses[0].response, let kv = mine.kvs.first {
            // This lease campaigned before: it keeps its place, with the value asked now.
            leader.rev = kv.createRevision
            if kv.value != request.value {
                do { _ = try await proclaim(leader, request.value, recipes) } catch {
                    _ = try? await resign(leader, recipes)
                    throw error
                }
            }
        }
        do {
            let rev = leader.rev
            _ = try await untilCallCancelled(context) { try await recipes.waitDeletes(prefix, maxCreateRevision: rev - 1) }
        } catch {
            // Given up (the client went away): out of the running.
            if error is CancellationError || context.cancellation.isCancelled { _ = try? await resign(leader, recipes) }
            throw error
        }
        var response = V3electionpb_CampaignResponse()
        response.header = answer.header
        response.leader = leader
        return response
    }

    func proclaim(request: V3electionpb_ProclaimRequest, context: ServerContext) async throws -> V3electionpb_ProclaimResponse {
        guard request.hasLeader else { throw Self.missingLeaderKey }
        let recipes = Recipes(backend: backend, caller: try CallIdentity.caller())
        var response = V3electionpb_ProclaimResponse()
        response.header = try await proclaim(request.leader, request.value, recipes)
        return response
    }

    /// Changes the leader's value, if `leader` still leads.
    private func proclaim(_ leader: V3electionpb_LeaderKey, _ value: Data, _ recipes: Recipes) async throws -> Etcdserverpb_ResponseHeader {
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Recipes.compare(createRevisionOf: Array(leader.key), equals: leader.rev)]
        txn.success = [Recipes.put(Array(leader.key), Array(value), lease: leader.lease)]
        let answer = try await recipes.txn(txn)
        guard answer.succeeded else { throw Self.notLeader }
        return answer.header
    }

    func resign(request: V3electionpb_ResignRequest, context: ServerContext) async throws -> V3electionpb_ResignResponse {
        guard request.hasLeader else { throw Self.missingLeaderKey }
        let recipes = Recipes(backend: backend, caller: try CallIdentity.caller())
        var response = V3electionpb_ResignResponse()
        response.header = try await resign(request.leader, recipes)
        return response
    }

    /// Deletes the leader's key, if `leader` still leads (otherwise there is nothing to give up).
    private func resign(_ leader: V3electionpb_LeaderKey, _ recipes: Recipes) async throws -> Etcdserverpb_ResponseHeader {
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Recipes.compare(createRevisionOf: Array(leader.key), equals: leader.rev)]
        txn.success = [Recipes.delete(Array(leader.key))]
        return try await recipes.txn(txn).header
    }

    func leader(request: V3electionpb_LeaderRequest, context: ServerContext) async throws -> V3electionpb_LeaderResponse {
        let recipes = Recipes(backend: backend, caller: try CallIdentity.caller())
        let found = try await recipes.range(Recipes.byCreation(Self.prefix(request.name), first: true))
        guard let kv = found.kvs.first else { throw Self.noLeader }
        var response = V3electionpb_LeaderResponse()
        response.header = found.header
        response.kv = kv
        return response
    }

    /// Each leader and each value it proclaims, as they happen, until the client goes: the
    /// current leader first (or, with none, the first candidate to appear), then its key's
    /// changes until it is deleted, then the next leader.
    func observe(request: V3electionpb_LeaderRequest, response: RPCWriter<V3electionpb_LeaderResponse>, context: ServerContext) async throws {
        let recipes = Recipes(backend: backend, caller: try CallIdentity.caller())
        // Until the client goes: the loop below never ends by itself.
        try await untilCallCancelled(context) { try await observe(request, response, recipes) }
    }

    private func observe(_ request: V3electionpb_LeaderRequest, _ response: RPCWriter<V3electionpb_LeaderResponse>, _ recipes: Recipes) async throws {
        let prefix = Self.prefix(request.name)
        func send(_ header: Etcdserverpb_ResponseHeader, _ kv: Mvccpb_KeyValue) async throws {
            var answer = V3electionpb_LeaderResponse()
            answer.header = header
            answer.kv = kv
            try await response.write(answer)
        }
        while !Task.isCancelled {
            let found = try await recipes.range(Recipes.byCreation(prefix, first: true))
            var header = found.header
            var leader: Mvccpb_KeyValue
            if let kv = found.kvs.first {
                leader = kv
            } else {
                // No candidate: the first key put under the prefix leads.
                var first: Mvccpb_KeyValue?
                for try await (events, _) in recipes.changes(prefix, end: Recipes.prefixEnd(prefix), from: found.header.revision) {
                    if let put = events.first(where: { $0.kind == .put }) {
                        first = put.kv.message
                        break
                    }
                }
                guard let first else { return }
                leader = first
                header.revision = first.modRevision
            }
            try await send(header, leader)
            // The leader's key until it is deleted: each put is a proclaimed value.
            keyChanges: for try await (events, revision) in recipes.changes(Array(leader.key), end: [], from: header.revision + 1) {
                for event in events {
                    if event.kind == .delete { break keyChanges }
                    header.revision = revision
                    try await send(header, event.kv.message)
                }
            }
        }
    }
}
