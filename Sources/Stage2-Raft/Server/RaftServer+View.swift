import NIOCore
import RaftCore
import SingleNode

/// The live view and the lab's controls, as operators reach them (`LiveView` does the work).
extension RaftServer {
    /// Why the lab's controls refused.
    public typealias LabError = Raft.LabError

    /// The whole cluster's live view, as `LiveView` gathers it.
    public func clusterView() async -> ClusterRaftView { await view.clusterView() }

    /// Cuts this member off from the members named (see `LiveView.cut`); an empty list heals.
    public func cut(from names: [String]) async throws(LabError) -> [String] { try await view.cut(from: names) }
}
