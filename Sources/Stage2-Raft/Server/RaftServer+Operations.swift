import BinaryCodec
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftCore
import RaftDisk
import SingleNode

/// What operators ask of a running member besides data: handing leadership over, and backups
/// that a new cluster can be founded from.
extension RaftServer {
    /// Why a leadership transfer did not happen.
    public enum TransferError: Error, Equatable {
        /// This member does not lead (etcd's "not leader").
        case notLeader
        /// The target is not a voter here, or is this member (etcd's "bad leader transferee").
        case badTransferee
        /// The target did not take over within the request timeout.
        case timedOut
    }

    /// Hands leadership to voter `target` (thesis §3.10: the leader brings it up to date, then
    /// tells it to campaign at once) and returns once it leads.
    public func transferLeadership(to target: NodeID) async throws(TransferError) {
        let started: Result<Void, TransferError> = (try? await loop.submit { () -> Result<Void, TransferError> in
            guard self.node.role == .leader else { return .failure(.notLeader) }
            guard target != self.id, self.node.confState.voters.contains(target) else { return .failure(.badTransferee) }
            self.logger.info("transferring leadership", metadata: ["to": "\(ClusterIdentity.hex(target))"])
            self.node.transferLeadership(to: target)
            self.scheduleReady()
            return .success(())
        }.get()) ?? .failure(.timedOut)
        try started.get()
        let deadline = NIODeadline.now() + configuration.requestTimeout
        while NIODeadline.now() < deadline {
            if status.leader == target { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        throw .timedOut
    }

    /// A consistent copy of this member's whole state (both stores, and who the members were),
    /// as of the last entry applied, in the file format `restoreBackup` reads. The copies are
    /// taken on the Raft loop (cheap: the stores are copy-on-write) and encoded off it, so
    /// writes carry on meanwhile.
    public func backup() async throws -> [UInt8] {
        // A member that just installed a leader's copy of a machine's file may hold that
        // machine's state beyond the entries it has applied (it skips them as they come): a
        // backup waits until it has, so that no store in it is ahead of the index it records
        // (a cluster restored from it would skip its own new entries up to there).
        let deadline = NIODeadline.now() + configuration.requestTimeout
        while try await loop.submit({ (self.configuration.stateMachine?.appliedThrough ?? 0) > self.machine.appliedIndex }).get() {
            guard NIODeadline.now() < deadline else { throw ProposalError.timedOut }
            try await Task.sleep(for: .milliseconds(10))
        }
        let (store, index, term, members, encodeExtension) = try await loop.submit {
            let (store, index) = self.machine.copyStore()
            return (store, index, self.node.term(at: index) ?? self.node.term, Array(self.members.values),
                    self.configuration.stateMachine.map { machine -> @Sendable () throws -> [UInt8] in
                        guard let transfer = machine.transferSource() else { return { machine.snapshotSource()() } }
                        let path = SpooledState.newPath(in: self.stateDirectory, "sending")
                        return {
                            defer { unlink(path) }
                            _ = try transfer(path)
                            return try FileReader(path: path).readAll()
                        }
                    })
        }.get()
        let payload = SnapshotContainer(v1: store.encoded(), other: try encodeExtension?(), members: members).encoded()
        var writer = ByteWriter()
        writer.bytes = Self.backupMagic
        writer.u64(index)
        writer.u64(term)
        writer.blob(payload)
        return writer.bytes
    }

    static let backupMagic: [UInt8] = Array("etcd-swift-backup/1\n".utf8)

    /// Why a backup cannot be restored.
    public struct RestoreError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Founds a new cluster's member from a backup, in an empty data directory: every founder
    /// restores the same file with the same `--initial-cluster`, so all start from the same
    /// snapshot (the backup's stores; membership and the v1 machine list replaced by the
    /// founders) and elect a leader as a new cluster does. `body` is what `backup()` gave
    /// (whoever stored it checks its integrity: the v3 API appends a SHA-256).
    public static func restoreBackup(
        _ body: [UInt8], into directory: String, member: Member, initialCluster: [Member], clusterToken: String
    ) throws {
        guard body.starts(with: backupMagic) else { throw RestoreError(description: "not a snapshot saved from this etcd") }
        var reader = ByteReader(body[backupMagic.count...])
        // Whoever stored the backup may have padded it with zeros (etcdctl wants whole blocks).
        guard let index = reader.u64(), let _ = reader.u64(), let payload = reader.blob(),
            body[reader.position...].allSatisfy({ $0 == 0 })
        else {
            throw RestoreError(description: "the snapshot's header is damaged")
        }
        guard !DataDirectory.hasLog(directory + "/wal") else { throw RestoreError(description: "\(directory) already holds a member's data; restore into a new directory") }
        let founders = (initialCluster.isEmpty ? [member] : initialCluster).sorted { $0.name < $1.name }
        guard founders.contains(where: { $0.id == member.id }) else { throw RestoreError(description: "\(member.name) is not in --initial-cluster") }
        let container = try SnapshotContainer(decoding: payload)
        // The founders replace the old cluster's machine list, at the snapshot's index.
        var store = try KeyStore(encoded: container.v1)
        let at = max(index, UInt64(founders.count))
        for machine in store.machines() { _ = store.apply(Command(.leave(name: machine.name), time: Timestamp(seconds: 0)), at: at) }
        for founder in founders {
            _ = store.apply(Command(.join(name: founder.name, raftURL: founder.peerURL, etcdURL: ""), time: Timestamp(seconds: 0)), at: at)
        }
        let conf = ConfState(voters: founders.map(\.id))
        let storage = try DiskStorage.open(directory: directory, initialConfState: conf)
        let clusterID = ClusterIdentity.id(token: clusterToken, founders: founders)
        try ClusterIdentity.store(clusterID, in: directory)
        try ClusterIdentity.storeMemberID(member.id, in: directory)
        let data = SnapshotContainer(v1: store.encoded(), other: container.other, members: founders).encoded()
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: at, term: 1, confState: conf), data: data)
        try storage.persist(entries: [], hardState: HardState(term: 1, vote: 0, commit: at), snapshot: snapshot)
    }
}

extension RaftServer {
    /// Before a graceful stop: if this member leads, hands leadership to the most up-to-date
    /// voter, so the cluster does not wait an election timeout to find out it is gone (etcd
    /// does the same on SIGTERM). Gives up quietly after the request timeout.
    public func transferLeadershipBeforeStopping() async {
        let target: NodeID? = try? await loop.submit { () -> NodeID? in
            guard self.node.role == .leader else { return nil }
            let others = self.node.confState.voters.filter { $0 != self.id }
            if others.isEmpty { self.logger.info("skipped leadership transfer for single voting member cluster") }
            return others.max { (self.node.progress[$0]?.match ?? 0) < (self.node.progress[$1]?.match ?? 0) }
        }.get()
        guard let target else { return }
        do {
            try await transferLeadership(to: target)
            logger.info("leadership transferred before stopping", metadata: ["to": "\(ClusterIdentity.hex(target))"])
        } catch {
            logger.warning("could not transfer leadership before stopping", metadata: ["error": "\(error)"])
        }
    }
}
