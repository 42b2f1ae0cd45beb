/// A member's identity in the cluster; 0 means "none" (no leader known, no vote cast).
public typealias NodeID = UInt64

/// What an entry carries.
public enum EntryKind: UInt8, Sendable, Hashable, Codable {
    /// Application data (empty for a new leader's first entry).
    case normal = 0
    /// An encoded `ConfChange`.
    case confChange = 1
}

/// One entry of the replicated log.
public struct Entry: Sendable, Hashable, Codable {
    /// The term of the leader that created it.
    public var term: UInt64
    /// Its position in the log, from 1.
    public var index: UInt64
    /// Whether it carries data or a membership change.
    public var kind: EntryKind
    /// The payload.
    public var data: [UInt8]

    /// Makes an entry.
    public init(term: UInt64, index: UInt64, kind: EntryKind = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
    }

    /// Approximate bytes on the wire, for size limits.
    var byteCount: Int { data.count + 24 }
}

/// The state that must be on stable storage before any message that depends on it is sent
/// (Raft Figure 2: currentTerm, votedFor; plus the commit index, so a restart can apply at once).
public struct HardState: Sendable, Hashable, Codable {
    /// The latest term this node has seen.
    public var term: UInt64 = 0
    /// Who this node voted for in `term`; 0 if nobody.
    public var vote: NodeID = 0
    /// The highest index known committed.
    public var commit: UInt64 = 0

    /// Makes a hard state.
    public init(term: UInt64 = 0, vote: NodeID = 0, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// The membership: voters decide elections and commits; learners only receive the log.
public struct ConfState: Sendable, Hashable, Codable {
    /// Members that vote, sorted.
    public var voters: [NodeID]
    /// Members that do not vote, sorted.
    public var learners: [NodeID]

    /// Makes a membership.
    public init(voters: [NodeID] = [], learners: [NodeID] = []) {
        self.voters = voters.sorted()
        self.learners = learners.sorted()
    }
}

/// One single-server membership change (Raft thesis §4.1): at most one is in flight at a time.
public struct ConfChange: Sendable, Hashable, Codable {
    /// What to change.
    public enum Kind: UInt8, Sendable, Codable {
        /// Add a voter, or promote a learner to voter.
        case addVoter = 0
        /// Add a learner.
        case addLearner = 1
        /// Remove a member.
        case remove = 2
        /// Change what the application records about a member (its URLs, in `context`); the
        /// voters and learners stay as they are.
        case update = 3
    }

    /// What to change.
    public var kind: Kind
    /// Which member.
    public var nodeID: NodeID
    /// Opaque data for the application (e.g. the new member's URLs).
    public var context: [UInt8]

    /// Makes a change.
    public init(_ kind: Kind, nodeID: NodeID, context: [UInt8] = []) {
        self.kind = kind
        self.nodeID = nodeID
        self.context = context
    }

    /// The entry payload: kind, node ID (8 bytes, big-endian), then the context.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = [kind.rawValue]
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: nodeID >> UInt64(shift))) }
        return bytes + context
    }

    /// Decodes an entry payload; nil if it is not one.
    public init?(encoded bytes: [UInt8]) {
        guard bytes.count >= 9, let kind = Kind(rawValue: bytes[0]) else { return nil }
        self.kind = kind
        self.nodeID = bytes[1...8].reduce(0) { $0 << 8 | UInt64($1) }
        self.context = Array(bytes[9...])
    }
}

/// Where a snapshot leaves the log: everything up to `index` is in it.
public struct SnapshotMetadata: Sendable, Hashable, Codable {
    /// The last index the snapshot covers.
    public var index: UInt64
    /// The term of that entry.
    public var term: UInt64
    /// The membership as of `index`.
    public var confState: ConfState

    /// Makes snapshot metadata.
    public init(index: UInt64, term: UInt64, confState: ConfState) {
        self.index = index
        self.term = term
        self.confState = confState
    }
}

/// The state machine's state at some index, standing in for every entry up to it.
public struct Snapshot: Sendable, Hashable, Codable {
    /// Where it stands in the log.
    public var metadata: SnapshotMetadata
    /// The state machine's serialized state.
    public var data: [UInt8]

    /// Makes a snapshot.
    public init(metadata: SnapshotMetadata, data: [UInt8] = []) {
        self.metadata = metadata
        self.data = data
    }
}

/// The answer to a linearizable read: it may be served once the state machine has applied `index`.
public struct ReadState: Sendable, Hashable {
    /// The commit index when the read was confirmed by a quorum.
    public var index: UInt64
    /// The request's context, echoed back so the caller can match it.
    public var requestContext: [UInt8]

    /// Makes a read state.
    public init(index: UInt64, requestContext: [UInt8]) {
        self.index = index
        self.requestContext = requestContext
    }
}

/// A node's role (Raft §5.1, plus the pre-candidate of §9.6's PreVote).
public enum Role: Sendable, Hashable {
    case follower, preCandidate, candidate, leader

    /// The paper's word for the role (the live view and the golden tests print it).
    public var name: String {
        switch self {
        case .follower: "follower"
        case .preCandidate: "pre-candidate"
        case .candidate: "candidate"
        case .leader: "leader"
        }
    }
}

/// Errors the core reports to its caller.
public enum RaftError: Error, Sendable, Hashable {
    /// The proposal was not accepted: no leader is known, a leadership transfer is in
    /// progress, or this node is no longer a member. Retry, perhaps at another node.
    case proposalDropped
    /// A membership change is already pending; one at a time.
    case confChangePending
    /// The requested entries were compacted into a snapshot.
    case compacted
    /// The requested entries are not in the log (yet).
    case unavailable
    /// The snapshot is not ready yet; try again later.
    case snapshotTemporarilyUnavailable
}
