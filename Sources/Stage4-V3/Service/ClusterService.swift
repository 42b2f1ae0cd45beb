import EtcdAPI
import GRPCCore
import Raft

/// etcd's Cluster service: the member list, and membership changes through Stage 2's
/// single-server changes. Any member takes a change; the leader checks it as etcd's
/// --strict-reconfig-check does and proposes it; the answer comes once it is applied here.
struct ClusterService: Etcdserverpb_Cluster.SimpleServiceProtocol {
    let backend: V3Backend

    static func message(_ member: Member, learners: Set<UInt64>) -> Etcdserverpb_Member {
        var message = Etcdserverpb_Member()
        message.id = member.id
        message.name = member.name
        message.peerUrls = [member.peerURL]
        message.clientUrls = member.clientURL.isEmpty ? [] : [member.clientURL]
        message.isLearner = learners.contains(member.id)
        return message
    }

    /// etcd's cluster server fills in the cluster, the member and the term, not the revision.
    private func header() -> Etcdserverpb_ResponseHeader {
        backend.header(revision: 0)
    }

    func memberList(request: Etcdserverpb_MemberListRequest, context: ServerContext) async throws -> Etcdserverpb_MemberListResponse {
        // etcd 3.4 answers from the local view (its `linearizable` option came in 3.5).
        let status = backend.raft.status
        var response = Etcdserverpb_MemberListResponse()
        response.header = header()
        response.members = status.members.map { Self.message($0, learners: status.learners) }
        return response
    }

    /// Runs a change and returns what it did, as etcd's errors on failure.
    private func change(_ request: MembershipRequest) async throws -> MembershipResult {
        // etcd 3.4 lets any client change the membership; here, with auth on, only root may.
        try backend.requireAdmin()
        do {
            return try await backend.raft.changeMembership(request)
        } catch {
            throw V3Backend.rpcError(error)
        }
    }

    /// This server keeps one peer URL per member; etcd's clients send a list.
    private func onePeerURL(_ urls: [String]) throws -> String {
        guard !urls.isEmpty else { throw V3Backend.rpcError(V3Error.memberBadURLs) }
        guard urls.count == 1 else { throw V3Backend.rpcError(MembershipError.onlyOnePeerURL) }
        return urls[0]
    }

    func memberAdd(request: Etcdserverpb_MemberAddRequest, context: ServerContext) async throws -> Etcdserverpb_MemberAddResponse {
        let result = try await change(.add(peerURL: try onePeerURL(request.peerUrls), isLearner: request.isLearner))
        var response = Etcdserverpb_MemberAddResponse()
        response.header = header()
        response.member = Self.message(result.member, learners: result.learners)
        response.members = result.members.map { Self.message($0, learners: result.learners) }
        return response
    }

    func memberRemove(request: Etcdserverpb_MemberRemoveRequest, context: ServerContext) async throws -> Etcdserverpb_MemberRemoveResponse {
        let result = try await change(.remove(id: request.id))
        var response = Etcdserverpb_MemberRemoveResponse()
        response.header = header()
        response.members = result.members.map { Self.message($0, learners: result.learners) }
        return response
    }

    func memberUpdate(request: Etcdserverpb_MemberUpdateRequest, context: ServerContext) async throws -> Etcdserverpb_MemberUpdateResponse {
        let result = try await change(.update(id: request.id, peerURL: try onePeerURL(request.peerUrls)))
        var response = Etcdserverpb_MemberUpdateResponse()
        response.header = header()
        response.members = result.members.map { Self.message($0, learners: result.learners) }
        return response
    }

    func memberPromote(request: Etcdserverpb_MemberPromoteRequest, context: ServerContext) async throws -> Etcdserverpb_MemberPromoteResponse {
        let result = try await change(.promote(id: request.id))
        var response = Etcdserverpb_MemberPromoteResponse()
        response.header = header()
        response.members = result.members.map { Self.message($0, learners: result.learners) }
        return response
    }
}
