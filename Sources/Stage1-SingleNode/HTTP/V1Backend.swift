import NIOCore

/// What the v1 HTTP API needs from the machine behind it.
///
/// Stage 1 answers from one in-memory store; Stage 2 implements the same protocol over Raft,
/// where a write waits for its log entry to be applied, or is redirected to the leader.
public protocol V1Backend: Sendable {
    /// The wall clock, used only to render how many seconds a TTL has left.
    func now() -> Timestamp

    /// Reads a key or lists a directory from local state, counting a get.
    func read(_ key: String) -> Result<ReadResult, StoreError>

    /// Carries out a write issued at `time`; the future succeeds once the outcome is known.
    func write(_ kind: Command.Kind, issuedAt time: Timestamp, on eventLoop: any EventLoop) -> EventLoopFuture<WriteOutcome>

    /// Waits for the first change at or under `prefix` from `index` on (0: the next change).
    func watch(prefix: String, fromIndex index: UInt64, on eventLoop: any EventLoop) -> PendingWatch

    /// The members and the leader, as the client endpoints report them.
    func cluster() -> ClusterView

    /// The store counters.
    func stats() -> StoreStats
}

/// The result of a write.
public enum WriteOutcome: Sendable {
    /// The write was applied (or refused by the store) with this answer.
    case completed(Result<V1Response, StoreError>)
    /// This node cannot take writes; the client should repeat the request at the leader,
    /// whose client URL this is.
    case redirect(leaderClientURL: String)
}

/// A watch in progress: its eventual answer, and how to give up on it.
public struct PendingWatch: Sendable {
    /// Succeeds with the event (or an error such as 401) when one is due.
    public var result: EventLoopFuture<Result<V1Response, StoreError>>
    /// Withdraws the watcher, e.g. because the client closed the connection; the future then
    /// never completes with an event. Safe to call after it fired.
    public var cancel: @Sendable () -> Void

    /// Makes a pending watch.
    public init(result: EventLoopFuture<Result<V1Response, StoreError>>, cancel: @escaping @Sendable () -> Void) {
        self.result = result
        self.cancel = cancel
    }
}

/// The cluster as the client endpoints show it.
public struct ClusterView: Sendable, Hashable {
    /// Client URLs of all members, leader first.
    public var clientURLs: [String]
    /// The leader's peer ("raft") URL, or nil during an election.
    public var leaderPeerURL: String?

    /// Makes a view.
    public init(clientURLs: [String], leaderPeerURL: String?) {
        self.clientURLs = clientURLs
        self.leaderPeerURL = leaderPeerURL
    }
}
