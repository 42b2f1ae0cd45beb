import Logging
import RaftCore
import RaftDisk

/// What a member starts from: its data directory opened, and what that directory and the
/// bootstrap flags say it is. A new directory founds a cluster (`--initial-cluster`, or alone)
/// or joins one (`-C`/`--join`); a directory with a log restarts the member it records, and the
/// bootstrap flags are ignored, as etcd ignores them. Decided here, before any server exists,
/// so each case is tested on a directory alone (`MemberBootstrapTests`).
struct MemberBootstrap {
    let storage: DiskStorage
    /// Its name's ID, or the one the cluster gave it (`etcdctl member add` by URL), as recorded.
    let memberID: NodeID
    /// 0 until known: a joiner learns it from the answer to its join.
    let clusterID: UInt64
    /// Whether it must (still) ask the cluster to add it.
    let isJoining: Bool

    static func open(_ configuration: RaftServerConfiguration, logger: Logger) throws -> MemberBootstrap {
        let member = configuration.member
        let directory = configuration.dataDirectory
        let isNewMember = !DataDirectory.hasLog(configuration.walDirectory ?? directory + "/wal")
        let founders = configuration.initialCluster.count > 1 ? configuration.initialCluster.sorted { $0.name < $1.name } : [member]
        if founders.count > 1 && !founders.contains(where: { $0.id == member.id }) {
            throw JoinError(description: "\(member.name) is not in --initial-cluster")
        }
        let isFounding = isNewMember && configuration.join.isEmpty
        let storage = try DiskStorage.open(
            directory: directory, walDirectory: configuration.walDirectory,
            initialConfState: isFounding ? ConfState(voters: founders.map(\.id)) : ConfState(), segmentSize: configuration.segmentSize)
        storage.walSyncObserver = RaftMetrics.recordWALSync
        for repair in storage.repairs { logger.warning("repaired the WAL", metadata: ["detail": "\(repair)"]) }
        var clusterID = ClusterIdentity.load(directory)
        // A member added by peer URL (`etcdctl member add`) has an ID other than its name's; it
        // learns it when it joins and keeps it here.
        let recordedID = ClusterIdentity.loadMemberID(directory)
        let memberID = !isNewMember && recordedID != 0 ? recordedID : member.id
        // A joiner stopped before its log holds anything (before its join completed, or killed
        // while the first snapshot came in) knows no member but itself: nothing it persisted
        // names them. It joins again (else it would never hear from the cluster, or never be
        // able to answer it); the cluster answers with its ID and the members.
        let isJoining = !configuration.join.isEmpty && (isNewMember || (storage.lastIndex() == 0 && storage.snapshotMetadata.index == 0))
        if isFounding {
            try ClusterIdentity.storeMemberID(memberID, in: directory)
            // Recorded before the founding entries: a log never exists without its cluster.
            clusterID = ClusterIdentity.id(token: configuration.clusterToken, founders: founders)
            try ClusterIdentity.store(clusterID, in: directory)
            try storage.persist(entries: foundingEntries(founders), hardState: HardState(term: 1, vote: 0, commit: UInt64(founders.count)), snapshot: nil)
            logger.info(
                "starting a new cluster",
                metadata: ["name": "\(member.name)", "members": "\(founders.map(\.name))", "cluster-id": "\(ClusterIdentity.hex(clusterID))"])
        } else if !isNewMember && !isJoining {
            logger.info(
                "found an existing data directory: restarting as the member it records, ignoring bootstrap flags",
                metadata: ["data-dir": "\(directory)", "last-index": "\(storage.lastIndex())"])
        }
        return MemberBootstrap(storage: storage, memberID: memberID, clusterID: clusterID, isJoining: isJoining)
    }

    /// A new cluster's first entries: one membership change per founder, committed in term 1,
    /// so the leader's first entry follows them and the first client write after it (index 3
    /// for a cluster of one, as in the original). Every founder writes the same entries, in
    /// name order, so their logs agree from index 1.
    static func foundingEntries(_ founders: [Member]) -> [Entry] {
        founders.enumerated().map { position, founder in
            Entry(term: 1, index: UInt64(position + 1), kind: .confChange,
                  data: ConfChange(.addVoter, nodeID: founder.id, context: founder.encoded).encoded)
        }
    }
}
