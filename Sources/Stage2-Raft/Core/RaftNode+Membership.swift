/// Single-server membership changes (thesis §4.1): the application applies a committed
/// `ConfChange` entry, then tells the node here.
extension RaftNode {
    /// Applies a committed membership change and returns the new membership. Call it when the
    /// change's entry is applied, in log order.
    ///
    /// A member added behind a compacted log catches up from a snapshot, and a node refuses a
    /// snapshot whose membership does not name it (as etcd-io/raft does). So after adding a
    /// member, a shell whose log is compacted takes a fresh snapshot at this entry.
    @discardableResult
    public mutating func applyConfChange(_ change: ConfChange) -> ConfState {
        var state = confState
        switch change.kind {
        case .addVoter:
            state.learners.removeAll { $0 == change.nodeID }
            if !state.voters.contains(change.nodeID) { state.voters.append(change.nodeID) }
        case .addLearner:
            // Demoting a voter is not supported: it could shrink a quorum unsafely in one step.
            if !state.voters.contains(change.nodeID) && !state.learners.contains(change.nodeID) {
                state.learners.append(change.nodeID)
            }
        case .remove:
            state.voters.removeAll { $0 == change.nodeID }
            state.learners.removeAll { $0 == change.nodeID }
        case .update:
            return confState
        }
        applyConfState(ConfState(voters: state.voters, learners: state.learners))

        if role == .leader && !voters.contains(id) {
            // This leader was removed: it steps down, and the others elect one among themselves.
            becomeFollower(term: term, leader: 0)
            return confState
        }
        guard role == .leader, !voters.isEmpty else { return confState }
        // A smaller quorum may commit more now; a new member needs the log.
        if maybeCommit() {
            releaseReadsAfterFirstCommit()
            broadcastAppend()
        } else {
            for member in progress.keys.sorted() where member != id { sendAppend(to: member, evenIfEmpty: false) }
        }
        if leadTransferee != 0 && !voters.contains(leadTransferee) { leadTransferee = 0 }
        return confState
    }

    /// Sets the membership, keeping the progress of members that stay.
    mutating func applyConfState(_ state: ConfState) {
        voters = Set(state.voters)
        learners = Set(state.learners)
        for member in voters.union(learners) where progress[member] == nil {
            var fresh = Progress(next: log.lastIndex + 1, maxInflight: config.maxInflightMessages, isLearner: learners.contains(member))
            // A new member's log is unknown: probe it, but count it as active so that the leader
            // sends it a snapshot if it needs one.
            fresh.recentActive = true
            if member == id { fresh.match = log.persistedIndex }
            progress[member] = fresh
        }
        for member in progress.keys where !voters.contains(member) && !learners.contains(member) {
            progress[member] = nil
        }
        for member in progress.keys { progress[member]?.isLearner = learners.contains(member) }
    }
}
