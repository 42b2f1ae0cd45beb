import BinaryCodec
import RaftCore

/// A change to the membership asked through the API (etcd's MemberAdd, MemberRemove,
/// MemberUpdate, MemberPromote). Any member takes it; only the leader decides it, because the
/// safety checks need what only the leader knows (who is connected, how far a learner is).
public enum MembershipRequest: Sendable, Equatable {
    /// Add a member known by its peer URL; it starts with `--initial-cluster-state existing`.
    case add(peerURL: String, isLearner: Bool)
    /// Remove a member (the leader too: it steps down once the change applies).
    case remove(id: NodeID)
    /// Change a member's peer URL.
    case update(id: NodeID, peerURL: String)
    /// Make a learner a voter, once it has caught up.
    case promote(id: NodeID)
}

/// Why a membership change was refused: etcd's reasons (the v3 API maps each to etcd's error).
public enum MembershipError: UInt8, Error, Sendable, Equatable {
    case badURL = 1, peerURLExists, notFound, notLearner, learnerNotReady, tooManyLearners, notEnoughStarted, unhealthy,
        noLeader, changeInProgress, timedOut, stopped, leaderChanged, onlyOnePeerURL
}

/// What a membership change did: the member it was about, and the members after it.
public struct MembershipResult: Sendable {
    public var member: Member
    public var members: [Member]
    public var learners: Set<NodeID>
}

/// The leader's answer to a member that forwarded a membership change.
public enum MembershipAnswer: Sendable, Equatable {
    /// Applied at `index`, about member `id`.
    case done(id: NodeID, index: UInt64)
    case failed(MembershipError)
    /// Ask the leader at this peer address instead.
    case redirect(leaderPeerURL: String)
}

extension MembershipRequest {
    func encode(into writer: inout ByteWriter) {
        switch self {
        case .add(let url, let isLearner): writer.u8(1); writer.blob(Array(url.utf8)); writer.u8(isLearner ? 1 : 0)
        case .remove(let id): writer.u8(2); writer.u64(id)
        case .update(let id, let url): writer.u8(3); writer.u64(id); writer.blob(Array(url.utf8))
        case .promote(let id): writer.u8(4); writer.u64(id)
        }
    }

    static func decode(_ reader: inout ByteReader) -> MembershipRequest? {
        switch reader.u8() {
        case 1:
            guard let url = reader.string(), let learner = reader.u8() else { return nil }
            return .add(peerURL: url, isLearner: learner == 1)
        case 2: return reader.u64().map { .remove(id: $0) }
        case 3:
            guard let id = reader.u64(), let url = reader.string() else { return nil }
            return .update(id: id, peerURL: url)
        case 4: return reader.u64().map { .promote(id: $0) }
        default: return nil
        }
    }
}

extension MembershipAnswer {
    func encode(into writer: inout ByteWriter) {
        switch self {
        case .done(let id, let index): writer.u8(1); writer.u64(id); writer.u64(index)
        case .failed(let error): writer.u8(2); writer.u8(error.rawValue)
        case .redirect(let url): writer.u8(3); writer.blob(Array(url.utf8))
        }
    }

    static func decode(_ reader: inout ByteReader) -> MembershipAnswer? {
        switch reader.u8() {
        case 1:
            guard let id = reader.u64(), let index = reader.u64() else { return nil }
            return .done(id: id, index: index)
        case 2: return reader.u8().flatMap(MembershipError.init(rawValue:)).map { .failed($0) }
        case 3: return reader.string().map { .redirect(leaderPeerURL: $0) }
        default: return nil
        }
    }
}
