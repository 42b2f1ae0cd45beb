/// The rules every role shares: terms (Raft §5.1) and the leader lease. Then campaigns and vote
/// requests go to `Election` in any role, every other message to this node's role's type
/// (`Election` for candidates, `Follower`, `Leader`).
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
            Election.hup(&self, transfer: false)
        case .vote, .preVote:
            Election.handleVoteRequest(&self, message)
        default:
            switch role {
            case .leader: return Leader.step(&self, message)
            case .candidate, .preCandidate: return Election.step(&self, message)
            case .follower: return Follower.step(&self, message)
            }
        }
        return nil
    }
}
