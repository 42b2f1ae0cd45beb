import Crypto
import EtcdAPI
import Foundation
import GRPCCore
import Raft

/// etcd's Maintenance service: status, hashes to check replicas agree, alarms (NOSPACE),
/// defragmentation, snapshots, and moving leadership.
struct MaintenanceService: Etcdserverpb_Maintenance.SimpleServiceProtocol {
    let backend: V3Backend

    /// The etcd version this server speaks for (etcdctl prints it).
    static let version = "3.4.23"

    /// etcd's text for an alarm, as status errors and `etcdctl alarm list` show it.
    static func text(_ alarm: Etcdserverpb_AlarmMember) -> String {
        "memberID:\(alarm.memberID) alarm:\(alarm.alarm == .nospace ? "NOSPACE" : alarm.alarm == .corrupt ? "CORRUPT" : "NONE") "
    }

    func status(request: Etcdserverpb_StatusRequest, context: ServerContext) async throws -> Etcdserverpb_StatusResponse {
        let status = backend.raft.status
        let (revision, alarms) = backend.machine.read { store in (store.revision, store.alarms.sorted()) }
        let sizes = backend.machine.sizes
        var response = Etcdserverpb_StatusResponse()
        response.header = backend.header(revision: revision)
        response.version = Self.version
        response.dbSize = Int64(sizes.total)
        response.dbSizeInUse = Int64(sizes.inUse)
        response.leader = status.leader
        response.raftIndex = status.commitIndex
        response.raftTerm = status.term
        response.raftAppliedIndex = status.appliedIndex
        response.isLearner = status.learners.contains(status.memberID)
        response.errors = alarms.map { Self.text($0.message) }
        return response
    }

    func alarm(request: Etcdserverpb_AlarmRequest, context: ServerContext) async throws -> Etcdserverpb_AlarmResponse {
        var response: Etcdserverpb_AlarmResponse
        switch request.action {
        case .activate, .deactivate:
            let applied = try await backend.write(.alarm(request), from: .client(try CallIdentity.caller()))
            guard case .alarm(let answer) = applied.response else { throw RPCError(code: .internalError, message: "etcdserver: unexpected apply result") }
            response = answer
        default:
            let alarms = backend.machine.read { $0.alarms.sorted() }
            response = Etcdserverpb_AlarmResponse()
            response.alarms = alarms.filter { request.alarm == .none || $0.kind == Int32(request.alarm.rawValue) }.map(\.message)
        }
        // No header: etcd 3.4's Alarm answers without one (the maintenance server passes the
        // applied result on as it is).
        return response
    }

    func defragment(request: Etcdserverpb_DefragmentRequest, context: ServerContext) async throws -> Etcdserverpb_DefragmentResponse {
        try backend.requireAdmin(asMaintenance: true)
        do { try backend.machine.defragment() } catch {
            throw V3Backend.rpcError(V3Error(code: .unknown, message: "etcdserver: defragment failed: \(error)"))
        }
        // Without a header, as etcd 3.4 answers.
        return Etcdserverpb_DefragmentResponse()
    }

    func hash(request: Etcdserverpb_HashRequest, context: ServerContext) async throws -> Etcdserverpb_HashResponse {
        try backend.requireAdmin(asMaintenance: true)
        // Under the store's lock: the whole store is read (etcd's Hash is a rarely used, whole-
        // database check; HashKV is the one operators and the corruption check use).
        let (hash, revision) = backend.machine.read { ($0.hash, $0.revision) }
        var response = Etcdserverpb_HashResponse()
        response.header = backend.header(revision: revision)
        response.hash = hash
        return response
    }

    func hashKV(request: Etcdserverpb_HashKVRequest, context: ServerContext) async throws -> Etcdserverpb_HashKVResponse {
        try backend.requireAdmin(asMaintenance: true)
        let (current, compacted) = backend.machine.read { ($0.revision, $0.compactRevision) }
        let revision = request.revision == 0 ? current : request.revision
        if revision > current { throw V3Backend.rpcError(V3Error.futureRevision) }
        if request.revision > 0 && revision <= compacted { throw V3Backend.rpcError(V3Error.compacted) }
        let hashed: (hash: UInt32, revision: Int64, compactRevision: Int64)
        do { hashed = try backend.machine.hashKV(at: request.revision) } catch {
            throw V3Backend.rpcError(V3Error(code: .unknown, message: "etcdserver: cannot read the backend: \(error)"))
        }
        var response = Etcdserverpb_HashKVResponse()
        response.header = backend.header(revision: hashed.revision)
        response.hash = hashed.hash
        // etcd says -1 for a store never compacted.
        response.compactRevision = hashed.compactRevision == 0 ? -1 : hashed.compactRevision
        return response
    }

    /// etcd's chunk size for the snapshot stream.
    static let chunkSize = 32 * 1024

    func snapshot(request: Etcdserverpb_SnapshotRequest, response: RPCWriter<Etcdserverpb_SnapshotResponse>, context: ServerContext) async throws {
        try backend.requireAdmin(asMaintenance: true)
        let backup = try await backend.raft.backup()
        defer { backup.discard() }
        // As etcd: the data in chunks, each saying how much is left after it; then the SHA-256
        // of all of it in a last message of its own. Read from disk a chunk at a time, so a
        // store of gigabytes is never held whole.
        let padding = SnapshotFile.padding(after: backup.length)
        var remaining = backup.length + UInt64(padding)
        var hash = SHA256()
        let reader = try backup.reader()
        func send(_ piece: [UInt8]) async throws {
            hash.update(data: piece)
            remaining -= UInt64(piece.count)
            var chunk = Etcdserverpb_SnapshotResponse()
            chunk.header = backend.header(revision: 0)
            chunk.remainingBytes = remaining
            chunk.blob = Data(piece)
            try await response.write(chunk)
        }
        while let piece = try reader.next(upTo: Self.chunkSize) { try await send(piece) }
        if padding > 0 { try await send([UInt8](repeating: 0, count: padding)) }
        var last = Etcdserverpb_SnapshotResponse()
        last.header = backend.header(revision: 0)
        last.blob = Data(hash.finalize())
        try await response.write(last)
    }

    func moveLeader(request: Etcdserverpb_MoveLeaderRequest, context: ServerContext) async throws -> Etcdserverpb_MoveLeaderResponse {
        try backend.requireAdmin(asMaintenance: true)
        let status = backend.raft.status
        guard status.leader == status.memberID else { throw V3Backend.rpcError(V3Error.notLeader) }
        // Without a header, as etcd 3.4 answers.
        let response = Etcdserverpb_MoveLeaderResponse()
        // Already there: etcd answers success.
        if request.targetID == status.memberID { return response }
        guard status.members.contains(where: { $0.id == request.targetID }), !status.learners.contains(request.targetID) else {
            throw V3Backend.rpcError(V3Error.badLeaderTransferee)
        }
        do {
            try await backend.raft.transferLeadership(to: request.targetID)
        } catch {
            switch error {
            case .notLeader: throw V3Backend.rpcError(V3Error.notLeader)
            case .badTransferee: throw V3Backend.rpcError(V3Error.badLeaderTransferee)
            case .timedOut: throw RPCError(code: .unavailable, message: "etcdserver: request timed out, leader transfer took too long")
            }
        }
        return response
    }
}
