import DequeModule
import RaftCore

/// What a member remembers for the live view, on the Raft loop: the messages it sent lately
/// and the turns of its Raft life. Bounded, so a member left running for months with the view
/// on holds a few hundred small records, never more.
///
/// Heartbeats are thinned: a leader sends one to each follower every tick, and a page showing
/// them all would show nothing else. One in `heartbeatSample` of each direction is kept.
public struct RaftRecorder: Sendable {
    public static let messageCapacity = 400
    public static let eventCapacity = 100
    public static let heartbeatSample = 10

    private(set) var messages = Deque<MessageView>()
    private(set) var events = Deque<RaftEventView>()
    private var nextSeq: UInt64 = 1
    private var heartbeatsSeen: [String: Int] = [:]
    // The last role, term and leader recorded, to record changes only.
    private var last: (role: String, term: UInt64, leader: String)?

    public init() {}

    /// Records a message sent by this member (`dropped`: not sent, the lab cut the receiver
    /// off), at `at` ms.
    public mutating func record(_ message: Message, from: String, to: String, dropped: Bool = false, at: Int64) {
        if message.kind == .heartbeat || message.kind == .heartbeatResponse {
            let pair = "\(from)>\(to)>\(message.kind)"
            let seen = heartbeatsSeen[pair, default: 0]
            heartbeatsSeen[pair] = seen + 1
            guard seen % Self.heartbeatSample == 0 else { return }
        }
        let view = MessageView(
            seq: nextSeq, at: at, from: from, to: to, kind: "\(message.kind)", term: message.term, index: message.index,
            entries: message.entries.count, commit: message.commit, reject: message.reject, dropped: dropped)
        nextSeq += 1
        messages.append(view)
        if messages.count > Self.messageCapacity { messages.removeFirst() }
    }

    /// Records the role, term and leader if any changed since the last call.
    public mutating func observe(role: String, term: UInt64, leader: String, at: Int64) {
        if let last, last == (role, term, leader) { return }
        let text: String
        switch (role, leader) {
        case ("leader", _): text = "became leader"
        case (_, ""): text = "\(role), no leader"
        default: text = "\(role) of \(leader)"
        }
        note(text, term: term, at: at)
        last = (role, term, leader)
    }

    /// Records something else worth a line on the timeline (a snapshot, a restart).
    public mutating func note(_ text: String, term: UInt64, at: Int64) {
        events.append(RaftEventView(at: at, term: term, text: text))
        if events.count > Self.eventCapacity { events.removeFirst() }
    }

    /// The messages of the last `window` ms before `now`, at most `limit` (the newest).
    public func recentMessages(now: Int64, window: Int64, limit: Int) -> [MessageView] {
        Array(messages.filter { $0.at >= now - window }.suffix(limit))
    }

    public var allEvents: [RaftEventView] { Array(events) }
}

/// Builds a member's view from its core: pure, so tests build it from an in-memory cluster.
public enum RaftViewBuilder {
    /// Entries of the log tail shown per member.
    public static let tailLength = 12

    /// `names` gives members' names by ID (an ID without one is shown in hex); `summarize`
    /// says in words what an entry carries.
    public static func member<Storage: RaftStorage>(
        _ node: RaftNode<Storage>, base: MemberRaftView, names: [NodeID: String], snapshotIndex: UInt64,
        summarize: (Entry) -> String
    ) -> MemberRaftView {
        func name(_ id: NodeID) -> String { id == 0 ? "" : names[id] ?? String(id, radix: 16) }
        var view = base
        let confState = node.confState
        view.role = confState.learners.contains(node.id) ? "learner" : node.role.name
        view.term = node.term
        view.vote = name(node.vote)
        view.leader = name(node.leader)
        view.commit = node.commitIndex
        view.applied = node.appliedIndex
        view.lastIndex = node.lastIndex
        view.snapshotIndex = snapshotIndex
        // A follower's progress table is what it kept from when it last led: not shown.
        view.progress = node.role != .leader ? [] : node.progress.filter { $0.key != node.id }.sorted { name($0.key) < name($1.key) }.map { id, progress in
            FollowerProgressView(
                name: name(id), match: progress.match, next: progress.next, state: progress.state.name, inflight: progress.inflightCount,
                learner: progress.isLearner)
        }
        view.log = node.logTail(tailLength).map { entry in
            LogEntryView(index: entry.index, term: entry.term, summary: summarize(entry), committed: entry.index <= node.commitIndex)
        }
        return view
    }
}
