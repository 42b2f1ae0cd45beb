import EtcdAPI
import GRPCCore
import Raft

/// etcd's Maintenance service, as far as this stage goes: Status (for `etcdctl endpoint
/// status`). The rest is Stage 4 part 2 (issue 7) and answers UNIMPLEMENTED with a reason.
struct MaintenanceService: Etcdserverpb_Maintenance.SimpleServiceProtocol {
    let backend: V3Backend

    /// The etcd version this server speaks for (etcdctl prints it).
    static let version = "3.4.23"

    func status(request: Etcdserverpb_StatusRequest, context: ServerContext) async throws -> Etcdserverpb_StatusResponse {
        let status = backend.raft.status
        let (revision, size) = backend.machine.read { store in (store.revision, Int64(store.encodedSizeEstimate)) }
        var response = Etcdserverpb_StatusResponse()
        response.header = backend.header(revision: revision)
        response.version = Self.version
        response.dbSize = size
        response.dbSizeInUse = size
        response.leader = status.leader
        response.raftIndex = status.commitIndex
        response.raftTerm = status.term
        response.raftAppliedIndex = status.appliedIndex
        response.isLearner = status.learners.contains(status.memberID)
        return response
    }

    static func notYet(_ what: String) -> RPCError {
        RPCError(code: .unimplemented, message: "etcdserver: \(what) is not implemented yet")
    }

    func alarm(request: Etcdserverpb_AlarmRequest, context: ServerContext) async throws -> Etcdserverpb_AlarmResponse { throw Self.notYet("Alarm") }
    func defragment(request: Etcdserverpb_DefragmentRequest, context: ServerContext) async throws -> Etcdserverpb_DefragmentResponse { throw Self.notYet("Defragment") }
    func hash(request: Etcdserverpb_HashRequest, context: ServerContext) async throws -> Etcdserverpb_HashResponse { throw Self.notYet("Hash") }
    func hashKV(request: Etcdserverpb_HashKVRequest, context: ServerContext) async throws -> Etcdserverpb_HashKVResponse { throw Self.notYet("HashKV") }
    func snapshot(request: Etcdserverpb_SnapshotRequest, response: RPCWriter<Etcdserverpb_SnapshotResponse>, context: ServerContext) async throws {
        throw Self.notYet("Snapshot")
    }
    func moveLeader(request: Etcdserverpb_MoveLeaderRequest, context: ServerContext) async throws -> Etcdserverpb_MoveLeaderResponse { throw Self.notYet("MoveLeader") }
}
