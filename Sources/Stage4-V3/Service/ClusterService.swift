import EtcdAPI
import GRPCCore
import Raft

/// etcd's Cluster service, as far as this stage goes: the member list. Changing membership
/// through it is Stage 4 part 2 (issue 7); those methods answer UNIMPLEMENTED with a reason.
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

    func memberList(request: Etcdserverpb_MemberListRequest, context: ServerContext) async throws -> Etcdserverpb_MemberListResponse {
        let status = backend.raft.status
        var response = Etcdserverpb_MemberListResponse()
        response.header = backend.header(revision: backend.machine.read { $0.revision })
        response.members = status.members.map { Self.message($0, learners: status.learners) }
        return response
    }

    static let notYet = RPCError(code: .unimplemented, message: "etcdserver: membership changes through the v3 API are not implemented yet; use -C to join")

    func memberAdd(request: Etcdserverpb_MemberAddRequest, context: ServerContext) async throws -> Etcdserverpb_MemberAddResponse { throw Self.notYet }
    func memberRemove(request: Etcdserverpb_MemberRemoveRequest, context: ServerContext) async throws -> Etcdserverpb_MemberRemoveResponse { throw Self.notYet }
    func memberUpdate(request: Etcdserverpb_MemberUpdateRequest, context: ServerContext) async throws -> Etcdserverpb_MemberUpdateResponse { throw Self.notYet }
    func memberPromote(request: Etcdserverpb_MemberPromoteRequest, context: ServerContext) async throws -> Etcdserverpb_MemberPromoteResponse { throw Self.notYet }
}
