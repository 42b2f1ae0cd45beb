import Foundation
import RaftCore

// What the live view of a cluster (`/debug/raft`) shows, as JSON: each member's Raft state as
// its core reports it, the tail of its log, the messages it sent lately and the turns its
// elections took. A member builds its own `MemberRaftView`; the member serving the page asks
// every other one for theirs over the peer port and sends the lot as one `ClusterRaftView`.

/// One member, as it sees itself.
public struct MemberRaftView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var clientURL: String
    public var peerURL: String
    /// follower, pre-candidate, candidate, leader; learner for a learner.
    public var role = ""
    public var term: UInt64 = 0
    /// Whom it voted for in `term`: a name, or "" for nobody.
    public var vote = ""
    /// The leader it follows: a name, or "" if it knows none.
    public var leader = ""
    public var commit: UInt64 = 0
    public var applied: UInt64 = 0
    public var lastIndex: UInt64 = 0
    public var snapshotIndex: UInt64 = 0
    /// A leader's view of each other member; empty on followers.
    public var progress: [FollowerProgressView] = []
    /// The last entries of its log, oldest first.
    public var log: [LogEntryView] = []
    /// Messages it sent (and, cut off, dropped) lately, oldest first.
    public var messages: [MessageView] = []
    /// Its elections and leader changes, oldest first.
    public var events: [RaftEventView] = []
    /// The peers the lab has cut it off from (names).
    public var cutOff: [String] = []
    /// The lab's control address when started by `etcd lab`; nil otherwise (read-only view).
    public var lab: String?
    /// Its wall clock when it answered, in milliseconds since 1970.
    public var at: Int64 = 0
    /// Why it did not answer, when the serving member could not reach it (the rest is empty).
    public var unreachable: String?

    public init(id: String, name: String, clientURL: String, peerURL: String) {
        (self.id, self.name, self.clientURL, self.peerURL) = (id, name, clientURL, peerURL)
    }
}

/// How the leader sends to one follower (etcd-raft's Progress).
public struct FollowerProgressView: Codable, Sendable, Equatable {
    public var name: String
    public var match: UInt64
    public var next: UInt64
    /// probe, replicate or snapshot.
    public var state: String
    /// Appends sent and not yet acknowledged.
    public var inflight: Int
    public var learner: Bool
}

/// One log entry: its place, its term and what it carries, in words.
public struct LogEntryView: Codable, Sendable, Equatable {
    public var index: UInt64
    public var term: UInt64
    /// `v1 set /foo`, `v3 put k`, `conf change add infra4`, `empty (a new leader's entry)`.
    public var summary: String
    public var committed: Bool
}

/// One message between members.
public struct MessageView: Codable, Sendable, Equatable {
    /// Increasing per member: tells new messages from those already shown.
    public var seq: UInt64
    public var at: Int64
    public var from: String
    public var to: String
    /// The core's kind: append, appendResponse, vote, heartbeat, …
    public var kind: String
    public var term: UInt64
    /// The log position it is about (an append's previous entry, a vote's last entry).
    public var index: UInt64
    public var entries: Int
    public var commit: UInt64
    public var reject: Bool
    /// Not delivered: the lab had cut the two members apart.
    public var dropped: Bool
}

/// A moment in the member's Raft life: a new term, a role, a leader, a snapshot.
public struct RaftEventView: Codable, Sendable, Equatable {
    public var at: Int64
    public var term: UInt64
    public var text: String
}

/// The whole cluster, as the member serving the page gathered it.
public struct ClusterRaftView: Codable, Sendable, Equatable {
    public var servedBy: String
    public var at: Int64
    public var members: [MemberRaftView]
}

extension RaftCore.Progress.State {
    var name: String {
        switch self {
        case .probe: "probe"
        case .replicate: "replicate"
        case .snapshot: "snapshot"
        }
    }
}

/// JSON as the view writes it: keys sorted, slashes left alone (URLs stay readable in curl).
public enum RaftViewJSON {
    public static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(value))) ?? []
    }
}
