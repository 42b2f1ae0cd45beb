/// Leader election (Raft §5.2, §5.4.1; PreVote, thesis §9.6): campaigns, the votes a node
/// grants, and what a pre-candidate or a candidate does with each message. Like every role's
/// rules (`Follower`, `Leader`), these are functions of the node's one state, `Consensus`,
/// as etcd-raft's `campaign` and `stepCandidate` are functions of its `raft`.
enum Election {
    /// A campaign is due: on an election timeout, when asked to (`RaftNode.campaign`), or, with
    /// `transfer`, because the leader is handing leadership to this node.
    static func hup<S: RaftStorage>(_ r: inout Consensus<S>, transfer: Bool) {
        guard r.role != .leader, r.isPromotable else { return }
        // A configuration change committed but not applied may change who votes: wait for it.
        let unapplied = (try? r.log.slice(r.log.applied + 1, r.log.committed + 1)) ?? []
        if unapplied.contains(where: { $0.kind == .confChange }) { return }
        if r.config.preVote && !transfer {
            campaign(&r, preVote: true, transfer: false)
        } else {
            campaign(&r, preVote: false, transfer: transfer)
        }
    }

    static func campaign<S: RaftStorage>(_ r: inout Consensus<S>, preVote: Bool, transfer: Bool) {
        let campaignTerm: UInt64
        let kind: MessageKind
        if preVote {
            r.becomePreCandidate()
            campaignTerm = r.term + 1
            kind = .preVote
        } else {
            r.becomeCandidate()
            campaignTerm = r.term
            kind = .vote
        }
        if r.tracker.recordVote(r.id, granted: true) == .won {
            // A single voter wins at once.
            if preVote { campaign(&r, preVote: false, transfer: false) } else { r.becomeLeader() }
            return
        }
        for voter in r.tracker.voters.sorted() where voter != r.id {
            r.send(Message(
                kind: kind, to: voter, term: campaignTerm, logTerm: r.log.lastTerm, index: r.log.lastIndex,
                context: transfer ? Consensus<S>.campaignTransfer : []))
        }
    }

    /// A vote or pre-vote request, in any role, once the term rules let it through.
    static func handleVoteRequest<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) {
        // One vote per term (§5.2): for whom we already voted, or for anyone if we have neither
        // voted nor a leader. A pre-vote for a later term may always be granted.
        let canVote =
            r.vote == message.from || (r.vote == 0 && r.leader == 0)
            || (message.kind == .preVote && message.term > r.term)
            || r.config.faultInjection == .voteTwiceInATerm
        let responseKind: MessageKind = message.kind == .vote ? .voteResponse : .preVoteResponse
        if canVote && r.log.isUpToDate(lastIndex: message.index, term: message.logTerm) {
            // Answer in the candidate's term: a pre-vote grant must match the term it asked for.
            r.send(Message(kind: responseKind, to: message.from, term: message.term))
            if message.kind == .vote {
                r.ticks.restartElectionTimeout()
                r.vote = message.from
            }
        } else {
            r.send(Message(kind: responseKind, to: message.from, term: r.term, reject: true))
        }
    }

    /// Candidates and pre-candidates: count votes, or give way to a leader.
    static func step<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) -> RaftError? {
        let myResponse: MessageKind = r.role == .preCandidate ? .preVoteResponse : .voteResponse
        switch message.kind {
        case .propose:
            return .proposalDropped
        case .append, .heartbeat, .snapshot:
            // A leader of this term won: give way to it.
            r.becomeFollower(term: message.term, leader: message.from)
            Follower.handleFromLeader(&r, message)
        case myResponse:
            switch r.tracker.recordVote(message.from, granted: !message.reject) {
            case .won:
                if r.role == .preCandidate {
                    // A pre-candidate that could win now campaigns for real.
                    campaign(&r, preVote: false, transfer: false)
                } else {
                    r.becomeLeader()
                    Leader.broadcastAppend(&r)
                }
            case .lost:
                r.becomeFollower(term: r.term, leader: 0)
            case .pending:
                break
            }
        case .readIndex:
            return .proposalDropped
        default:
            break
        }
        return nil
    }
}
