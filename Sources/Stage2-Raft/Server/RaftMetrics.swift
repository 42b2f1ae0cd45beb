import Metrics
import RaftCore
import RaftDisk
import Synchronization

/// What a member reports through swift-metrics, under etcd's metric names so that dashboards
/// and alerts written for etcd read ours. The daemon picks the backend (Prometheus); without
/// one, swift-metrics drops the values. Gauges that mirror state (has_leader, the proposal
/// indexes) are read from `RaftServer.status` when scraped, not updated on the hot path.
enum RaftMetrics {
    static let walFsync = Timer(label: "etcd_disk_wal_fsync_duration_seconds")
    /// etcd times its database's commits; this member's database is its snapshot files, so
    /// this times saving one.
    static let backendCommit = Timer(label: "etcd_disk_backend_commit_duration_seconds")
    static let leaderChanges = Counter(label: "etcd_server_leader_changes_seen_total")
    static let proposalsFailed = Counter(label: "etcd_server_proposals_failed_total")

    // Per peer, made once: this runs for every batch sent and every message received.
    private static let sentCounters = Mutex<[NodeID: Counter]>([:])
    private static let receivedCounters = Mutex<[NodeID: Counter]>([:])

    private static func counter(_ table: borrowing Mutex<[NodeID: Counter]>, _ name: String, _ label: String, _ id: NodeID) -> Counter {
        table.withLock { counters in
            if let counter = counters[id] { return counter }
            let counter = Counter(label: name, dimensions: [(label, String(id, radix: 16))])
            counters[id] = counter
            return counter
        }
    }

    /// Bytes of Raft messages sent to peer `id` (etcd_network_peer_sent_bytes_total{To}).
    static func sent(_ bytes: Int, to id: NodeID) {
        counter(sentCounters, "etcd_network_peer_sent_bytes_total", "To", id).increment(by: bytes)
    }

    /// Bytes of Raft messages received from peer `id`.
    static func received(_ bytes: Int, from id: NodeID) {
        counter(receivedCounters, "etcd_network_peer_received_bytes_total", "From", id).increment(by: bytes)
    }

    /// Records one WAL sync's duration (`DiskStorage.walSyncObserver`).
    static func recordWALSync(_ duration: Duration) { record(duration, in: walFsync) }

    static func record(_ duration: Duration, in timer: Timer) {
        let (seconds, attoseconds) = duration.components
        timer.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Runs `body` and records how long it took in `timer`.
    static func time<T, E: Error>(_ timer: Timer, _ body: () throws(E) -> T) throws(E) -> T {
        let start = ContinuousClock.now
        defer { record(ContinuousClock.now - start, in: timer) }
        return try body()
    }
}
