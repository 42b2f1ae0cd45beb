import EtcdAPI
import Foundation
import GRPCCore

/// etcd's Lease service. Grants and revocations go through the log; keep-alives and the time
/// left are the leader's lessor's business (its clock alone decides expiry), as in etcd: a
/// follower forwards them to it, and nothing is written.
struct LeaseService: Etcdserverpb_Lease.SimpleServiceProtocol {
    let backend: V3Backend

    func leaseGrant(request: Etcdserverpb_LeaseGrantRequest, context: ServerContext) async throws -> Etcdserverpb_LeaseGrantResponse {
        var grant = request
        // The ID is chosen here, before the log, so every member grants the same one.
        if grant.id == 0 { grant.id = Int64.random(in: 1...Int64.max) }
        // Like etcd, no lease shorter than the time a new leader may take to notice it.
        grant.ttl = max(grant.ttl, 2)
        let applied = try await backend.write(.leaseGrant(grant), from: .client(try CallIdentity.caller()))
        guard case .leaseGrant(var response) = applied.response else { throw RPCError(code: .internalError, message: "etcdserver: unexpected response") }
        response.header = backend.header(revision: applied.revision)
        return response
    }

    func leaseRevoke(request: Etcdserverpb_LeaseRevokeRequest, context: ServerContext) async throws -> Etcdserverpb_LeaseRevokeResponse {
        let applied = try await backend.write(.leaseRevoke(request), from: .client(try CallIdentity.caller()))
        var response = Etcdserverpb_LeaseRevokeResponse()
        response.header = backend.header(revision: applied.revision)
        return response
    }

    func leaseKeepAlive(
        request: RPCAsyncSequence<Etcdserverpb_LeaseKeepAliveRequest, any Error>, response: RPCWriter<Etcdserverpb_LeaseKeepAliveResponse>,
        context: ServerContext
    ) async throws {
        for try await keepAlive in request {
            var answer = Etcdserverpb_LeaseKeepAliveResponse()
            answer.id = keepAlive.id
            // etcd answers a keep-alive for a lease that is gone with TTL 0.
            answer.ttl = try await backend.keepAlive(keepAlive.id) ?? 0
            answer.header = backend.header(revision: backend.machine.read { $0.revision })
            try await response.write(answer)
        }
    }

    func leaseTimeToLive(request: Etcdserverpb_LeaseTimeToLiveRequest, context: ServerContext) async throws -> Etcdserverpb_LeaseTimeToLiveResponse {
        var response = Etcdserverpb_LeaseTimeToLiveResponse()
        response.id = request.id
        response.header = backend.header(revision: backend.machine.read { $0.revision })
        guard let lease = try await backend.timeToLive(request.id) else {
            response.ttl = -1  // etcd's answer for a lease that does not exist
            return response
        }
        // Its keys are the lease's to see only for a caller who may read them all (etcd 3.5).
        for key in lease.keys { try backend.requireRead(key: key) }
        response.ttl = lease.remaining
        response.grantedTtl = lease.granted
        if request.keys { response.keys = lease.keys.map { Data($0) } }
        return response
    }

    func leaseLeases(request: Etcdserverpb_LeaseLeasesRequest, context: ServerContext) async throws -> Etcdserverpb_LeaseLeasesResponse {
        let (ids, revision) = backend.machine.read { store in (store.leases.keys.sorted(), store.revision) }
        var response = Etcdserverpb_LeaseLeasesResponse()
        response.header = backend.header(revision: revision)
        response.leases = ids.map { id in
            var status = Etcdserverpb_LeaseStatus()
            status.id = id
            return status
        }
        return response
    }
}
