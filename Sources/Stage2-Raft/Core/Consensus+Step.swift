/// The rules every role shares: terms (Raft §5.1), votes (§5.2, §5.4.1) and campaigns.
extension Consensus {
    /// The marker a transfer target puts on its vote requests, so voters that still hear from
    /// the old leader grant them anyway (thesis §3.10).
    static var campaignTransfer: [UInt8] { Array("CampaignTransfer".utf8) }

    /// Steps any message, local or remote; returns why a proposal was refused, if it was.
    mutating func stepMessage(_ message: Message) -> RaftError? {
        if message.term > term && message.term != 0 {
            if message.kind == .vote || message.kind == .preVote {
                // Leader lease (with CheckQuorum): a follower that heard from a live leader
                // within the minimum election timeout ignores campaigns, so a partitioned node
                // coming back cannot depose a healthy leader. A transfer overrides it.
                let isForced = message.context == Self.campaignTransfer
                let inLease = config.checkQuorum && leader != 0 && ticks.isWithinLease
                if !isForced && inLease { return nil }
            }
            switch message.kind {
            case .preVote:
                break  // asking changes no term
            case .preVoteResponse where !message.reject:
                break  // the term moves when the pre-candidate wins and campaigns
            case .append, .heartbeat, .snapshot:
                becomeFollower(term: message.term, leader: message.from)
            default:
                becomeFollower(term: message.term, leader: 0)
            }
        } else if message.term < term && message.term != 0 {
            if (config.checkQuorum || config.preVote) && (message.kind == .heartbeat || message.kind == .append) {
                // A stale leader (perhaps cut off by CheckQuorum's lease on our side) learns the
                // new term from this answer and steps down.
                send(Message(kind: .appendResponse, to: message.from))
            } else if message.kind == .preVote {
                send(Message(kind: .preVoteResponse, to: message.from, reject: true))
            }
            return nil
        }

        switch message.kind {
        case .hup:
            hup(transfer: false)
        case .vote, .preVote:
            handleVoteRequest(message)
        default:
            switch role {
            case .leader: return stepLeader(message)
            case .candidate, .preCandidate: return stepCandidate(message)
            case .follower: return stepFollower(message)
            }
        }
        return nil
    }

    mutating func hup(transfer: Bool) {
        guard role != .leader, isPromotable else { return }
        // A configuration change committed but not applied may change who votes: wait for it.
        let unapplied = (try? log.slice(log.applied + 1, log.committed + 1)) ?? []
        if unapplied.contains(where: { $0.kind == .confChange }) { return }
        if config.preVote && !transfer {
            campaign(preVote: true, transfer: false)
        } else {
            campaign(preVote: false, transfer: transfer)
        }
    }

    mutating func campaign(preVote: Bool, transfer: Bool) {
        let campaignTerm: UInt64
        let kind: MessageKind
        if preVote {
            becomePreCandidate()
            campaignTerm = term + 1
            kind = .preVote
        } else {
            becomeCandidate()
            campaignTerm = term
            kind = .vote
        }
        if tracker.recordVote(id, granted: true) == .won {
            // A single voter wins at once.
            if preVote { campaign(preVote: false, transfer: false) } else { becomeLeader() }
            return
        }
        for voter in tracker.voters.sorted() where voter != id {
            send(Message(
                kind: kind, to: voter, term: campaignTerm, logTerm: log.lastTerm, index: log.lastIndex,
                context: transfer ? Self.campaignTransfer : []))
        }
    }

    private mutating func handleVoteRequest(_ message: Message) {
        // One vote per term (§5.2): for whom we already voted, or for anyone if we have neither
        // voted nor a leader. A pre-vote for a later term may always be granted.
        let canVote =
            vote == message.from || (vote == 0 && leader == 0)
            || (message.kind == .preVote && message.term > term)
            || config.faultInjection == .voteTwiceInATerm
        let responseKind: MessageKind = message.kind == .vote ? .voteResponse : .preVoteResponse
        if canVote && log.isUpToDate(lastIndex: message.index, term: message.logTerm) {
            // Answer in the candidate's term: a pre-vote grant must match the term it asked for.
            send(Message(kind: responseKind, to: message.from, term: message.term))
            if message.kind == .vote {
                ticks.restartElectionTimeout()
                vote = message.from
            }
        } else {
            send(Message(kind: responseKind, to: message.from, term: term, reject: true))
        }
    }
}
