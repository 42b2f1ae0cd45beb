import RaftCore

/// Whether a membership change is safe now, by etcd's rules (its `--strict-reconfig-check`),
/// decided from the leader's view alone: who the members are, who is started (has announced
/// its name), who is connected, and how far each has the log. A pure value, so every rule is
/// tested without a cluster (`MembershipRulesTests`); the leader builds one per request.
struct MembershipRules {
    var leader: NodeID
    var members: [NodeID: Member]
    var confState: ConfState
    /// Members heard from recently and still connected, the leader included.
    var connected: Set<NodeID>
    /// The leader's progress: the highest index known replicated on each member.
    var match: [NodeID: UInt64]
    var leaderLastIndex: UInt64
    /// False: only what is malformed, duplicated or not ready is refused (etcd's
    /// `--strict-reconfig-check=false`); the quorum and connectivity rules are skipped.
    var isStrict = true
    var maxClusterSize = 9

    /// etcd 3.4 lets one learner in at a time.
    static let maxLearners = 1

    /// The change to propose, or why not. `newID` names a member added by peer URL (it gets a
    /// fresh ID, not its name's: it has none yet).
    func check(_ request: MembershipRequest, newID: (String) -> NodeID) -> Result<ConfChange, MembershipError> {
        let voters = Set(confState.voters)
        func quorum(_ count: Int) -> Int { count / 2 + 1 }
        // A member is started once it has announced its name (etcd: a member with a name).
        func started(_ ids: Set<NodeID>) -> Int { ids.filter { !(members[$0]?.name.isEmpty ?? true) }.count }
        func connectedCount(_ ids: Set<NodeID>) -> Int { ids.intersection(connected).count }
        switch request {
        case .add(let peerURL, let isLearner):
            guard Self.isValidPeerURL(peerURL) else { return .failure(.badURL) }
            guard !members.values.contains(where: { $0.peerURL == peerURL }) else { return .failure(.peerURLExists) }
            guard members.count < maxClusterSize else { return .failure(.notEnoughStarted) }
            if isLearner {
                guard confState.learners.count < Self.maxLearners else { return .failure(.tooManyLearners) }
            } else if isStrict {
                // The new voter is not started: the started ones must still make a quorum.
                let afterwards = voters.count + 1
                guard started(voters) >= quorum(afterwards) || (started(voters) == 1 && afterwards == 2) else { return .failure(.notEnoughStarted) }
            }
            // As etcd: only a leader connected to every voter adds anyone, so the change cannot
            // leave a quorum that depends on a member already gone.
            guard !isStrict || connectedCount(voters) == voters.count else { return .failure(.unhealthy) }
            var id = newID(peerURL)
            while id == 0 || members[id] != nil { id &+= 1 }
            let member = Member(name: "", peerURL: peerURL, clientURL: "", id: id)
            return .success(ConfChange(isLearner ? .addLearner : .addVoter, nodeID: id, context: member.encoded))
        case .remove(let target):
            guard members[target] != nil || voters.contains(target) || confState.learners.contains(target) else { return .failure(.notFound) }
            if isStrict && voters.contains(target) {
                let remaining = voters.subtracting([target])
                guard started(remaining) >= quorum(remaining.count) else { return .failure(.notEnoughStarted) }
                // A member that is down is safe to remove: it is not part of the live quorum.
                if target == leader || connectedCount([target]) == 1 {
                    guard connectedCount(voters) - 1 >= quorum(remaining.count) else { return .failure(.unhealthy) }
                }
            }
            return .success(ConfChange(.remove, nodeID: target))
        case .update(let target, let peerURL):
            guard Self.isValidPeerURL(peerURL) else { return .failure(.badURL) }
            guard var member = members[target] else { return .failure(.notFound) }
            guard !members.values.contains(where: { $0.peerURL == peerURL && $0.id != target }) else { return .failure(.peerURLExists) }
            member.peerURL = peerURL
            return .success(ConfChange(.update, nodeID: target, context: member.encoded))
        case .promote(let target):
            guard let member = members[target] else { return .failure(.notFound) }
            guard confState.learners.contains(target) else { return .failure(.notLearner) }
            // etcd's readiness rule: the learner has at least 90% of what the leader has.
            let learnerMatch = match[target] ?? 0
            let leaderMatch = match[leader] ?? leaderLastIndex
            guard Double(learnerMatch) >= Double(leaderMatch) * 0.9 else { return .failure(.learnerNotReady) }
            guard !isStrict || started(voters) + 1 >= quorum(voters.count + 1) else { return .failure(.notEnoughStarted) }
            return .success(ConfChange(.addVoter, nodeID: target, context: member.encoded))
        }
    }

    /// http(s)://host:port with a numeric port: what a member can be dialled at.
    static func isValidPeerURL(_ url: String) -> Bool {
        guard let rest = url.hasPrefix("http://") ? url.dropFirst(7) : url.hasPrefix("https://") ? url.dropFirst(8) : nil,
            let colon = rest.lastIndex(of: ":"), colon != rest.startIndex,
            let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port)
        else { return false }
        return !rest[..<colon].contains("/")
    }
}
