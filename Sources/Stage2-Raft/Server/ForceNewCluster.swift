/// `--force-new-cluster`: etcd's disaster recovery. When most members of a cluster are lost
/// for good, one survivor is restarted as a cluster of one, keeping its data: entries past the
/// commit index it recorded are dropped, and entries removing every other member are appended
/// and marked committed, so the member elects itself and serves. As in etcd, the recorded
/// commit index may trail what the cluster had committed (a follower learns it a heartbeat
/// later, and it is written without a sync when it moves alone), so the newest acknowledged
/// writes can be among those dropped: choose the survivor with the highest index.
/// Then new members join it as they would any cluster.
///
/// The rewrite goes through the WAL like any write (appending at the commit index + 1 replaces
/// the uncommitted suffix on replay), so a crash during it leaves either the old log or the new.
import RaftCore
import RaftDisk

public enum ForceNewCluster {
    /// What was done, for the log.
    public struct Outcome: Sendable, Equatable {
        /// The commit index before the rewrite.
        public var commitIndex: UInt64
        /// Members removed.
        public var removed: [NodeID]
        /// This member, and its cluster (both kept).
        public var memberID: NodeID
        public var clusterID: UInt64
    }

    /// Rewrites the log in `configuration`'s directories for `memberID`; nil if there is no log
    /// (a new member: it founds a cluster of one anyway).
    public static func rewrite(_ configuration: RaftServerConfiguration) throws -> Outcome? {
        let walDirectory = configuration.walDirectory ?? configuration.dataDirectory + "/wal"
        guard DataDirectory.hasLog(walDirectory) else { return nil }
        let storage = try DiskStorage.open(
            directory: configuration.dataDirectory, walDirectory: configuration.walDirectory, initialConfState: ConfState(),
            segmentSize: configuration.segmentSize)
        let recorded = ClusterIdentity.loadMemberID(configuration.dataDirectory)
        let memberID = recorded != 0 ? recorded : configuration.member.id
        let (hardState, snapshotConf) = storage.initialState()
        let commit = hardState.commit
        // The membership as of the commit index: the snapshot's, then the changes after it.
        var voters = Set(snapshotConf.voters), learners = Set(snapshotConf.learners)
        let first = storage.snapshotMetadata.index + 1
        if commit >= first {
            for entry in try storage.entries(first, commit + 1, maxBytes: .max) where entry.kind == .confChange {
                guard let change = ConfChange(encoded: entry.data) else { continue }
                switch change.kind {
                case .addVoter: voters.insert(change.nodeID); learners.remove(change.nodeID)
                case .addLearner: learners.insert(change.nodeID); voters.remove(change.nodeID)
                case .remove: voters.remove(change.nodeID); learners.remove(change.nodeID)
                case .update: break
                }
            }
        }
        let removed = voters.union(learners).subtracting([memberID]).sorted()
        var changes = removed.map { ConfChange(.remove, nodeID: $0) }
        if !voters.contains(memberID) {
            var member = configuration.member
            member.id = memberID
            changes.append(ConfChange(.addVoter, nodeID: memberID, context: member.encoded))
        }
        let entries = changes.enumerated().map { position, change in
            Entry(term: hardState.term, index: commit + 1 + UInt64(position), kind: .confChange, data: change.encoded)
        }
        let newCommit = commit + UInt64(entries.count)
        // Appended even when there is nothing to remove: the uncommitted suffix must go.
        try storage.persist(
            entries: entries.isEmpty ? [] : entries, hardState: HardState(term: hardState.term, vote: hardState.vote, commit: newCommit),
            snapshot: nil)
        if entries.isEmpty && storage.lastIndex() > commit && commit > storage.snapshotMetadata.index {
            // Nothing to append, yet entries past the commit index: drop them by rewriting the
            // last committed entry, which replay reads as the new end of the log.
            let last = try storage.entries(commit, commit + 1, maxBytes: .max)
            try storage.persist(entries: last, hardState: nil, snapshot: nil)
        }
        return Outcome(commitIndex: commit, removed: removed, memberID: memberID, clusterID: ClusterIdentity.load(configuration.dataDirectory))
    }
}
