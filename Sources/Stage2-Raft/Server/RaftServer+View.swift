import NIOCore
import RaftCore
import SingleNode

/// The cluster as clients and v3 headers see it, published from the Raft loop for readers on
/// other threads: members' client URLs (leader first), the leader's peer URL, the member list.
extension RaftServer {
    func publishView() {
        isViewStale = false
        for member in members.values where member.id != id && !member.peerURL.isEmpty { transport.prepareConnection(to: member.peerURL) }
        let leaderID = node.leader
        let others = members.filter { $0.key != leaderID }.values.sorted { $0.name < $1.name }
        let ordered = ((members[leaderID].map { [$0] } ?? []) + others).filter { !$0.clientURL.isEmpty }
        published.withLock {
            $0 = ClusterView(clientURLs: ordered.map(\.clientURL), leaderPeerURL: members[leaderID]?.peerURL)
        }
        // In ID order, as etcd lists members.
        let (byName, learners) = (members.values.sorted { $0.id < $1.id }, Set(node.confState.learners))
        statusBox.withLock { status in
            status.members = byName
            status.learners = learners
        }
    }

    /// Records the cluster this member belongs to, for peers and for v3 response headers.
    func setClusterID(_ clusterID: UInt64) {
        transport.clusterID = clusterID
        statusBox.withLock { $0.clusterID = clusterID }
    }
}

extension RaftServer {
    /// Why the lab's controls refused.
    public typealias LabError = Raft.LabError

    /// The whole cluster's live view, as `LiveView` gathers it.
    public func clusterView() async -> ClusterRaftView { await view.clusterView() }

    /// Cuts this member off from the members named (see `LiveView.cut`); an empty list heals.
    public func cut(from names: [String]) async throws(LabError) -> [String] { try await view.cut(from: names) }
}
