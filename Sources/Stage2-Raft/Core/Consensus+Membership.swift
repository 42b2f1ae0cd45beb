/// Single-server membership changes (thesis §4.1): the application applies a committed
/// `ConfChange` entry, then tells the node here.
extension Consensus {
    /// Applies a committed membership change (`RaftNode.applyConfChange`) and returns the new
    /// membership.
    mutating func applyConfChange(_ change: ConfChange) -> ConfState {
        if change.kind == .update { return tracker.confState }
        applyConfState(tracker.confState.applying(change))

        if role == .leader && !tracker.voters.contains(id) {
            // This leader was removed: it steps down, and the others elect one among themselves.
            becomeFollower(term: term, leader: 0)
            return tracker.confState
        }
        guard role == .leader, !tracker.voters.isEmpty else { return tracker.confState }
        // A smaller quorum may commit more now; a new member needs the log.
        if Leader.maybeCommit(&self) {
            Leader.broadcastAppend(&self)
        } else {
            for member in tracker.others(than: id) { Leader.sendAppend(&self, to: member, evenIfEmpty: false) }
        }
        if leadTransferee != 0 && !tracker.voters.contains(leadTransferee) { leadTransferee = 0 }
        return tracker.confState
    }

    /// Sets the membership, keeping the progress of members that stay.
    mutating func applyConfState(_ state: ConfState) {
        tracker.apply(state, next: log.lastIndex + 1, me: id, persisted: log.persistedIndex)
    }
}
