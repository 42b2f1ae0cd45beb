#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import RaftCore

/// How a replicated member runs.
public struct RaftServerConfiguration: Sendable {
    /// This member: its name and the URLs it advertises.
    public var member: Member
    /// Where its WAL and snapshots live.
    public var dataDirectory: String
    /// Where to listen for peers (host); the port comes from `member.peerURL`.
    public var peerListenHost = "127.0.0.1"
    /// The peer port to listen on (0 picks one; tests only).
    public var peerListenPort: Int
    /// Whether that first listener is an `http://` URL: served without TLS even when the peer
    /// port has certificates, as etcd serves each URL by its own scheme.
    public var peerListenPlaintext = false
    /// The rest of `--listen-peer-urls`: etcd listens on every one (http and https side by
    /// side while a cluster moves to TLS).
    public var additionalPeerListeners: [PeerListener] = []
    /// Peer addresses of existing members to join through (`-C`); empty starts a new cluster.
    public var join: [String] = []
    /// The founding members of a new cluster (`--initial-cluster`), this one included; empty
    /// means a cluster of this member alone. Others' client URLs are unknown until they publish.
    public var initialCluster: [Member] = []
    /// One tick: the heartbeat interval.
    public var heartbeatInterval: TimeAmount = .milliseconds(100)
    /// Ticks without a leader before a member campaigns (1 s by default).
    public var electionTicks = 10
    /// Seeds the core's randomized election timeouts. By default the member's ID and the
    /// process's, so members started together do not campaign in step; a test on a manual
    /// clock gives one, so that the same steps give the same run.
    public var electionSeed: UInt64?
    /// The most members the cluster takes (`-maxsize`).
    public var maxClusterSize = 9
    /// Changes kept for watches from an index (`-m`).
    public var historyCapacity = 1024
    /// How long a client's write may wait for its entry to apply.
    public var requestTimeout: TimeAmount = .seconds(5)
    /// WAL segment size.
    public var segmentSize = 64 << 20
    /// Applied entries between snapshots of the store (`--snapshot-count`).
    public var snapshotCount: UInt64 = 10_000
    /// Entries kept in the log behind a snapshot, for followers that lag a little.
    public var snapshotKeepEntries: UInt64 = 5_000
    /// The machine the log feeds besides the v1 store (Stage 4's v3 store); nil for v1 only.
    /// Snapshots hold the v1 store and this one (the snapshot container's version 3; a third
    /// machine, such as auth, will grow the container).
    public var stateMachine: (any ReplicatedStateMachine)?
    /// What wraps every peer connection (Stage 3's TLS); nil is plaintext.
    public var peerSecurity: PeerSecurity?
    /// `--initial-cluster-token`: part of a new cluster's ID, so that clusters founded with
    /// different tokens refuse each other's members.
    public var clusterToken = ClusterIdentity.defaultToken
    /// A snapshot larger than this goes to a follower in pieces of this size, on a connection of
    /// its own.
    public var snapshotChunkSize = 1 << 20
    /// How long a peer may stay silent and still count as connected when a membership change
    /// is checked (etcd's HealthInterval).
    public var healthInterval: TimeAmount = .seconds(5)

    /// `--strict-reconfig-check`: refuse membership changes that could cost the quorum.
    public var strictReconfigCheck = true
    /// `--pre-vote`: a member asks whether it could win before it campaigns, so a member cut
    /// off and rejoining does not depose a working leader (Raft thesis §9.6). On by default
    /// here, as in etcd 3.5 (etcd 3.4 defaults to off).
    public var preVote = true
    /// `--wal-dir`: where the WAL lives, if not in `<data dir>/wal`.
    public var walDirectory: String?

    /// The live view at `/debug/raft` (`--enable-raft-view`, or started by `etcd lab`); nil:
    /// off, and nothing is recorded for it.
    public var raftView: RaftViewSettings?

    /// Every address to listen for peers on, the first (`peerListenHost:peerListenPort`) first.
    public var peerListeners: [PeerListener] {
        [PeerListener(host: peerListenHost, port: peerListenPort, plaintext: peerListenPlaintext)] + additionalPeerListeners
    }

    /// Makes a configuration.
    public init(member: Member, dataDirectory: String, peerListenPort: Int) {
        self.member = member
        self.dataDirectory = dataDirectory
        self.peerListenPort = peerListenPort
    }
}

extension RaftServerConfiguration {
    /// The core's configuration for member `id`, whose storage holds a snapshot at `applied`.
    /// One tick is one heartbeat interval.
    func raftConfig(id: NodeID, applied: UInt64) -> RaftConfig {
        var config = RaftConfig(id: id)
        config.electionTick = electionTicks
        config.heartbeatTick = 1
        config.preVote = preVote
        config.randomSeed = electionSeed ?? id ^ UInt64(UInt32(truncatingIfNeeded: getpid()))
        config.applied = applied
        return config
    }
}

/// How the live view runs.
public struct RaftViewSettings: Sendable, Equatable {
    /// The control address of the `etcd lab` that started this member; nil outside the lab,
    /// where the view is read-only and its controls refuse.
    public var labControlURL: String?

    public init(labControlURL: String? = nil) { self.labControlURL = labControlURL }
}

/// One address peers connect to.
public struct PeerListener: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// An `http://` URL: no TLS on it even when the peer port has certificates.
    public var plaintext: Bool

    public init(host: String, port: Int, plaintext: Bool) {
        self.host = host
        self.port = port
        self.plaintext = plaintext
    }
}
