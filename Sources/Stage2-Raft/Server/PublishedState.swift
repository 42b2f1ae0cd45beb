import RaftCore
import SingleNode
import Synchronization

/// What the Raft loop publishes for threads that must never wait on it: v1 clients' view of the
/// cluster (client URLs, leader first, and the leader's peer URL), and the member's status that
/// every v3 response header, `/metrics` and the learner check read. The loop writes after each
/// pass; readers take a copy under a lock held for no longer than the copy.
final class PublishedState: Sendable {
    private let view = Mutex(ClusterView(clientURLs: [], leaderPeerURL: nil))
    private let statusBox: Mutex<RaftStatus>

    init(memberID: NodeID) {
        statusBox = Mutex(RaftStatus(memberID: memberID))
    }

    var cluster: ClusterView { view.withLock { $0 } }
    var status: RaftStatus { statusBox.withLock { $0 } }
    /// What every v3 response header carries, without copying the member list.
    var identity: (clusterID: UInt64, memberID: UInt64, term: UInt64) {
        statusBox.withLock { ($0.clusterID, $0.memberID, $0.term) }
    }
    var isLearner: Bool { statusBox.withLock { $0.learners.contains($0.memberID) } }

    /// Who the members are and who leads changed.
    func publish(members: [NodeID: Member], leader: NodeID, learners: Set<NodeID>) {
        let others = members.filter { $0.key != leader }.values.sorted { $0.name < $1.name }
        let ordered = ((members[leader].map { [$0] } ?? []) + others).filter { !$0.clientURL.isEmpty }
        view.withLock { $0 = ClusterView(clientURLs: ordered.map(\.clientURL), leaderPeerURL: members[leader]?.peerURL) }
        // In ID order, as etcd lists members.
        let byID = members.values.sorted { $0.id < $1.id }
        statusBox.withLock { status in
            status.members = byID
            status.learners = learners
        }
    }

    /// The numbers any pass of the loop may move.
    func record(term: UInt64, leader: NodeID, applied: UInt64, commit: UInt64, pendingProposals: Int) {
        statusBox.withLock { status in
            status.term = term
            status.leader = leader
            status.appliedIndex = applied
            status.commitIndex = commit
            status.pendingProposals = pendingProposals
        }
    }

    func setClusterID(_ clusterID: UInt64) { statusBox.withLock { $0.clusterID = clusterID } }
    func setMemberID(_ memberID: NodeID) { statusBox.withLock { $0.memberID = memberID } }
}

/// A member's view of the cluster, published by the Raft loop after each pass.
public struct RaftStatus: Sendable, Equatable {
    public var memberID: UInt64 = 0
    public var clusterID: UInt64 = 0
    public var term: UInt64 = 0
    /// 0 when no leader is known.
    public var leader: UInt64 = 0
    public var appliedIndex: UInt64 = 0
    /// The last index known committed (etcd's "raft index").
    public var commitIndex: UInt64 = 0
    /// The members, by name.
    public var members: [Member] = []
    /// Learners among them.
    public var learners: Set<UInt64> = []
    /// Proposals made here and not yet applied (writes waiting for their entry).
    public var pendingProposals = 0
}
