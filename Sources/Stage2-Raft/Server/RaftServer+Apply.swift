import RaftCore
import SingleNode

/// Applying committed entries: to the machine that owns each (`StateMachines`), or, for a
/// membership change, to the core's configuration, the member table and the v1 store's record.
extension RaftServer {
    func apply(_ entry: Entry) {
        switch entry.kind {
        case .normal where entry.data.isEmpty:
            machine.skip(to: entry.index)  // a new leader's first entry
        case .normal:
            machines.apply(entry)
        case .confChange:
            guard let change = ConfChange(encoded: entry.data) else {
                machine.skip(to: entry.index)
                return
            }
            node.applyConfChange(change)
            let applied = membership.apply(change)
            if let record = applied.record {
                machine.apply(Command(record, time: Timestamp(seconds: 0)), at: entry.index)
            } else {
                machine.skip(to: entry.index)
            }
            membership.applied(change, applied, at: entry.index)
            // A member added behind a compacted log catches up from a snapshot, and refuses one
            // that does not name it: take a fresh one now (see RaftNode.applyConfChange).
            if change.kind != .remove && change.kind != .update && storage.firstIndex() > 1 { snapshots.take(at: entry.index) }
            membership.answerJoiners(change.nodeID)
        }
    }
}
