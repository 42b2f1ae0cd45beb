/// The kinds of message a node steps. Local ones (`hup`, `beat`, `propose`, `checkQuorum`) never
/// leave the node: ticks become messages so that `step` is the only way state changes.
public enum MessageKind: UInt8, Sendable, Hashable, Codable {
    /// Local: start an election (the election timeout ran out).
    case hup
    /// Local: the leader should send heartbeats.
    case beat
    /// A proposal of new entries (local, or forwarded by a follower to its leader).
    case propose
    /// Local: the leader checks that a quorum is still active (CheckQuorum).
    case checkQuorum
    /// AppendEntries (Raft §5.3), carrying entries from `index + 1`.
    case append
    /// The answer to `append`: the last index matched, or a rejection with a hint.
    case appendResponse
    /// RequestVote (Raft §5.2).
    case vote
    /// The answer to `vote`.
    case voteResponse
    /// PreVote (thesis §9.6): would you vote for me? Changes no term.
    case preVote
    /// The answer to `preVote`.
    case preVoteResponse
    /// InstallSnapshot, to a follower whose next entry was compacted away.
    case snapshot
    /// The leader's heartbeat, carrying a safe commit index and maybe a ReadIndex context.
    case heartbeat
    /// The answer to `heartbeat`.
    case heartbeatResponse
    /// Local, from the transport: the peer could not be reached.
    case unreachable
    /// Local, from the transport: sending a snapshot finished or failed.
    case snapshotStatus
    /// Ask the leader to hand leadership to `from`.
    case transferLeader
    /// Leader to transfer target: campaign now, skipping the election timeout and PreVote.
    case timeoutNow
    /// Ask the leader for a linearizable read index (ReadIndex, thesis §6.4).
    case readIndex
    /// The leader's answer to `readIndex`.
    case readIndexResponse
}

/// One message between nodes, or from the caller to its node. Fields unused by a kind are zero.
public struct Message: Sendable, Hashable, Codable {
    /// What it is.
    public var kind: MessageKind
    /// The recipient.
    public var to: NodeID
    /// The sender.
    public var from: NodeID
    /// The sender's term; 0 for local messages.
    public var term: UInt64 = 0
    /// For `append`, the term of entry `index`; for votes, the candidate's last term; for a
    /// rejected `appendResponse`, the term at `rejectHint`.
    public var logTerm: UInt64 = 0
    /// For `append`, the index before the first entry; for votes, the candidate's last index;
    /// for `appendResponse`, the last matched (or rejected) index.
    public var index: UInt64 = 0
    /// The entries carried.
    public var entries: [Entry] = []
    /// The leader's commit index.
    public var commit: UInt64 = 0
    /// For `snapshot`, the snapshot.
    public var snapshot: Snapshot?
    /// Whether a response refuses.
    public var reject: Bool = false
    /// For a rejected `appendResponse`, where the leader should probe next (fast backtracking).
    public var rejectHint: UInt64 = 0
    /// Opaque context: a ReadIndex request's ID, or the campaign-transfer marker on votes.
    public var context: [UInt8] = []

    /// Makes a message.
    public init(
        kind: MessageKind, to: NodeID = 0, from: NodeID = 0, term: UInt64 = 0, logTerm: UInt64 = 0,
        index: UInt64 = 0, entries: [Entry] = [], commit: UInt64 = 0, snapshot: Snapshot? = nil,
        reject: Bool = false, rejectHint: UInt64 = 0, context: [UInt8] = []
    ) {
        self.kind = kind
        self.to = to
        self.from = from
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.entries = entries
        self.commit = commit
        self.snapshot = snapshot
        self.reject = reject
        self.rejectHint = rejectHint
        self.context = context
    }

    /// Whether the kind is one that only ever exists inside a node.
    public var isLocal: Bool {
        switch kind {
        case .hup, .beat, .checkQuorum, .unreachable, .snapshotStatus: true
        default: false
        }
    }

    /// The message as node `sender` sends it in `term`: from the sender (a forwarded leadership
    /// transfer keeps its transferee in `from`), in the sender's term unless it names one
    /// already (a vote request carries the term it campaigns for). Local requests forwarded to
    /// the leader carry no term.
    func sent(by sender: NodeID, in term: UInt64) -> Message {
        var message = self
        if message.from == 0 || message.kind != .transferLeader { message.from = sender }
        if message.term == 0 && message.kind != .propose && message.kind != .readIndex && message.kind != .transferLeader {
            message.term = term
        }
        return message
    }
}
