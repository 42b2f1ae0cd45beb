import RaftCore
import SingleNode

/// What an applied membership change does to the members a member knows, and what the v1
/// store records for it at the entry's index (`/_etcd/machines`): a pure function of the
/// table and the change, tested by hand (`MemberTableTests`). The server applies the change to
/// the core, logs it, and carries out the rest.
enum MemberTable {
    /// The outcome of one change.
    struct Applied: Equatable {
        /// What the v1 store records at the entry's index; nil: it only moves its index past it.
        var record: Command.Kind?
        /// The member as the table now has it (nil: removed, or the change was unreadable).
        var member: Member?
        /// The name of the member removed, if one was.
        var removedName: String?
    }

    /// Applies `change` to `members` (and to `removed`, the IDs never to be let back in).
    /// `selfID` is the member applying it: its own ID is never recorded as removed, since it
    /// stops instead.
    static func apply(_ change: ConfChange, to members: inout [NodeID: Member], removed: inout Set<NodeID>, selfID: NodeID) -> Applied {
        switch change.kind {
        case .addVoter, .addLearner, .update:
            guard var member = Member(encoded: change.context) else { return Applied() }
            member.id = change.nodeID
            // A promotion or an update keeps what the member published about itself.
            if let known = members[change.nodeID] {
                member.name = known.name
                member.clientURL = known.clientURL
            }
            members[change.nodeID] = member
            // Known by URL only (added by `member add`): recorded by name once it publishes.
            guard !member.name.isEmpty else { return Applied(member: member) }
            let kind: Command.Kind = change.kind == .update
                ? .publish(name: member.name, raftURL: member.peerURL, etcdURL: member.clientURL)
                : .join(name: member.name, raftURL: member.peerURL, etcdURL: member.clientURL)
            return Applied(record: kind, member: member)
        case .remove:
            let gone = members.removeValue(forKey: change.nodeID)
            if change.nodeID != selfID { removed.insert(change.nodeID) }
            guard let name = gone?.name, !name.isEmpty else { return Applied(removedName: gone?.name) }
            return Applied(record: .leave(name: name), removedName: name)
        }
    }
}
