/// Candidates and pre-candidates: count votes, or give way to a leader (Raft §5.2).
extension Consensus {
    mutating func stepCandidate(_ message: Message) -> RaftError? {
        let myResponse: MessageKind = role == .preCandidate ? .preVoteResponse : .voteResponse
        switch message.kind {
        case .propose:
            return .proposalDropped
        case .append, .heartbeat, .snapshot:
            // A leader of this term won: give way to it.
            becomeFollower(term: message.term, leader: message.from)
            handleFromLeader(message)
        case myResponse:
            switch tracker.recordVote(message.from, granted: !message.reject) {
            case .won:
                if role == .preCandidate {
                    // A pre-candidate that could win now campaigns for real.
                    campaign(preVote: false, transfer: false)
                } else {
                    becomeLeader()
                    broadcastAppend()
                }
            case .lost:
                becomeFollower(term: term, leader: 0)
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
