/// How a node behaves. Times are in ticks, not seconds: the shell decides how long a tick is.
public struct RaftConfig: Sendable {
    /// This node's ID; never 0.
    public var id: NodeID
    /// Ticks without hearing from a leader before a follower campaigns; the actual timeout is
    /// drawn from `electionTick ..< 2 * electionTick`. Must exceed `heartbeatTick`.
    public var electionTick = 10
    /// Ticks between a leader's heartbeats.
    public var heartbeatTick = 1
    /// The most entry bytes in one append message (at least one entry is always sent).
    public var maxSizePerMessage = 1 << 20
    /// The most unacknowledged append messages to one follower in `replicate` state.
    public var maxInflightMessages = 256
    /// A leader steps down if it has not heard from a quorum within an election timeout, and
    /// followers that heard from a leader recently ignore vote requests (leader lease).
    public var checkQuorum = true
    /// Candidates first ask whether they could win (thesis §9.6), so a node returning from a
    /// partition does not disrupt the cluster by bumping the term.
    public var preVote = true
    /// Seeds the election-timeout randomness.
    public var randomSeed: UInt64 = 1
    /// The index the application has already applied (after a restart: its snapshot's index).
    public var applied: UInt64 = 0
    /// Deliberately broken rules, so tests can show the simulator catches them. Never set in
    /// production code.
    package var faultInjection: FaultInjection?

    /// Makes a configuration with defaults for everything but the ID.
    public init(id: NodeID) { self.id = id }
}

/// Safety rules the core can be told to break, for the simulator's mutation tests.
package enum FaultInjection: Sendable {
    /// Grant every vote request in a term, not just the first (breaks Election Safety).
    case voteTwiceInATerm
    /// Commit entries of earlier terms by counting replicas (breaks Raft Figure 8).
    case commitPreviousTermByCounting
}
