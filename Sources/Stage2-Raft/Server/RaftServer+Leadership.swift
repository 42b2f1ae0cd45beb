import RaftCore

/// Leadership as operators ask for it (`Leadership` does the work).
extension RaftServer {
    /// Why a leadership transfer did not happen.
    public typealias TransferError = LeadershipTransferError

    /// Hands leadership to voter `target` and returns once it leads.
    public func transferLeadership(to target: NodeID) async throws(TransferError) {
        try await leadership.transfer(to: target)
    }

    /// Before a graceful stop: hands leadership to the most up-to-date voter, if this member leads.
    public func transferLeadershipBeforeStopping() async {
        await leadership.transferBeforeStopping()
    }

    /// Waits until this member has published itself to the cluster: its name and client URL
    /// are in the log, and it knows a leader. A member of a cluster whose others are not up yet
    /// waits for them, as etcd's does. False if the server stopped first.
    public func publishedItself() async -> Bool {
        await leadership.publication.value()
    }
}
