/// Raft messages on the wire between peers: a binary encoding, version 1, with every read
/// bounds-checked so a damaged or hostile frame is refused rather than trusted.
///
/// A frame is `u32 length` then `length` bytes: `u8 frame kind`, then the body.
import RaftCore
import BinaryCodec

public enum PeerFrame: Sendable, Equatable {
    /// A Raft message.
    case raft(Message)
    /// A new machine asks to join: the v1 `-C` protocol.
    case joinRequest(name: String, peerURL: String, clientURL: String)
    /// The answer to a join: accepted, or where the leader is, or why not.
    case joinResponse(JoinAnswer)
    /// The listener will not talk to this connection, and says why before hanging up (for
    /// example a plaintext peer at a port that requires TLS), so both ends can log the cause.
    case refused(String)
    /// A membership change a member forwards to the leader (etcd's MemberAdd and the like).
    case membershipRequest(MembershipRequest)
    /// The leader's answer to it.
    case membershipResponse(MembershipAnswer)
    /// A question for the leader's state machine (a lease keep-alive), from a follower, numbered
    /// so that many share the persistent connection.
    case leaderQuery(id: UInt64, query: [UInt8])
    /// Its answer; nil if the member asked does not lead (any more).
    case leaderAnswer(id: UInt64, answer: [UInt8]?)
    /// A piece of a snapshot's data, on a connection of its own (so a large snapshot neither
    /// needs one huge frame nor holds up heartbeats on the main connection).
    case snapshotChunk([UInt8])
    /// The snapshot message whose data the chunks before it on this connection carried.
    case snapshotDone(Message)
    /// A piece of a machine's state sent apart from the snapshot (Stage 4's backend file), before
    /// the snapshot's own chunks on the same connection: the receiver writes it to a file.
    case stateChunk([UInt8])
    /// A question for this member's own state machine, which any member answers (Stage 4's
    /// HashKV for corruption checks, as etcd asks `/members/hashkv` on the peer port).
    case memberQuery([UInt8])
    /// Its answer; nil if the machine cannot answer it.
    case memberAnswer([UInt8]?)

    /// What a dialing peer writes first, before any frame: it tells an etcd peer from anything
    /// else (a TLS handshake, an HTTP client) with certainty, and versions the protocol. The
    /// dialer's cluster ID follows it (u64), so members of different clusters never talk.
    /// Version 2: questions for the leader name the machine they are for (its tag). Version 3: a
    /// machine's state may come apart from its snapshot (`stateChunk`), as a file.
    public static let preamble: [UInt8] = Array("etcd-swift-peer/3\n".utf8)

    /// How a join went.
    public enum JoinAnswer: Sendable, Equatable {
        /// Joined as member `id`; these are the members, so the new one can reach them before
        /// it has applied the log that records them.
        case joined(id: NodeID, members: [Member], clusterID: UInt64)
        /// Ask the leader at this peer address instead.
        case redirect(leaderPeerURL: String)
        /// Refused, with the reason to print (e.g. the cluster is full, error 103).
        case refused(String)
    }

    /// The most bytes one frame may hold; a larger length is a broken or hostile peer.
    static let maxFrameBytes = 256 << 20

    /// The frame with its length prefix.
    public func encoded() -> [UInt8] {
        var body = ByteWriter()
        switch self {
        case .raft(let message):
            body.u8(1)
            MessageCodec.encode(message, into: &body)
        case .joinRequest(let name, let peerURL, let clientURL):
            body.u8(2)
            body.blob(Array(name.utf8))
            body.blob(Array(peerURL.utf8))
            body.blob(Array(clientURL.utf8))
        case .joinResponse(let answer):
            body.u8(3)
            switch answer {
            case .joined(let id, let members, let clusterID):
                body.u8(0)
                body.u64(id)
                body.u32(UInt32(members.count))
                for member in members { body.blob(member.encoded) }
                body.u64(clusterID)
            case .redirect(let url):
                body.u8(1)
                body.blob(Array(url.utf8))
            case .refused(let reason):
                body.u8(2)
                body.blob(Array(reason.utf8))
            }
        case .refused(let reason):
            body.u8(4)
            body.blob(Array(reason.utf8))
        case .membershipRequest(let request):
            body.u8(5)
            request.encode(into: &body)
        case .membershipResponse(let answer):
            body.u8(6)
            answer.encode(into: &body)
        case .leaderQuery(let id, let query):
            body.u8(7)
            body.u64(id)
            body.blob(query)
        case .leaderAnswer(let id, let answer):
            body.u8(8)
            body.u64(id)
            body.u8(answer == nil ? 0 : 1)
            body.blob(answer ?? [])
        case .snapshotChunk(let bytes):
            body.u8(9)
            body.blob(bytes)
        case .snapshotDone(let message):
            body.u8(10)
            MessageCodec.encode(message, into: &body)
        case .stateChunk(let bytes):
            body.u8(11)
            body.blob(bytes)
        case .memberQuery(let query):
            body.u8(12)
            body.blob(query)
        case .memberAnswer(let answer):
            body.u8(13)
            body.u8(answer == nil ? 0 : 1)
            body.blob(answer ?? [])
        }
        var frame = ByteWriter()
        frame.u32(UInt32(body.bytes.count))
        frame.bytes += body.bytes
        return frame.bytes
    }

    /// Decodes a frame body (without its length prefix); nil if it is malformed.
    public static func decode(_ bytes: ArraySlice<UInt8>) -> PeerFrame? {
        var reader = ByteReader(bytes)
        switch reader.u8() {
        case 1:
            guard let message = MessageCodec.decode(&reader), reader.isAtEnd else { return nil }
            return .raft(message)
        case 2:
            guard let name = reader.string(), let peer = reader.string(), let client = reader.string(), reader.isAtEnd else { return nil }
            return .joinRequest(name: name, peerURL: peer, clientURL: client)
        case 3:
            switch reader.u8() {
            case 0:
                guard let id = reader.u64(), let count = reader.u32() else { return nil }
                var members: [Member] = []
                for _ in 0..<count {
                    guard let bytes = reader.blob(), let member = Member(encoded: bytes) else { return nil }
                    members.append(member)
                }
                guard let clusterID = reader.u64(), reader.isAtEnd else { return nil }
                return .joinResponse(.joined(id: id, members: members, clusterID: clusterID))
            case 1: return reader.string().map { .joinResponse(.redirect(leaderPeerURL: $0)) }
            case 2: return reader.string().map { .joinResponse(.refused($0)) }
            default: return nil
            }
        case 4:
            guard let reason = reader.string(), reader.isAtEnd else { return nil }
            return .refused(reason)
        case 5:
            guard let request = MembershipRequest.decode(&reader), reader.isAtEnd else { return nil }
            return .membershipRequest(request)
        case 6:
            guard let answer = MembershipAnswer.decode(&reader), reader.isAtEnd else { return nil }
            return .membershipResponse(answer)
        case 7:
            guard let id = reader.u64(), let query = reader.blob(), reader.isAtEnd else { return nil }
            return .leaderQuery(id: id, query: query)
        case 8:
            guard let id = reader.u64(), let flag = reader.u8(), let answer = reader.blob(), reader.isAtEnd else { return nil }
            return .leaderAnswer(id: id, answer: flag == 1 ? answer : nil)
        case 9:
            guard let bytes = reader.blob(), reader.isAtEnd else { return nil }
            return .snapshotChunk(bytes)
        case 10:
            guard let message = MessageCodec.decode(&reader), reader.isAtEnd else { return nil }
            return .snapshotDone(message)
        case 11:
            guard let bytes = reader.blob(), reader.isAtEnd else { return nil }
            return .stateChunk(bytes)
        case 12:
            guard let query = reader.blob(), reader.isAtEnd else { return nil }
            return .memberQuery(query)
        case 13:
            guard let flag = reader.u8(), let answer = reader.blob(), reader.isAtEnd else { return nil }
            return .memberAnswer(flag == 1 ? answer : nil)
        default:
            return nil
        }
    }
}

/// The fields of a `Message`, in order.
enum MessageCodec {
    static func encode(_ message: Message, into writer: inout ByteWriter) {
        writer.u8(message.kind.rawValue)
        writer.u64(message.to)
        writer.u64(message.from)
        writer.u64(message.term)
        writer.u64(message.logTerm)
        writer.u64(message.index)
        writer.u64(message.commit)
        writer.u8(message.reject ? 1 : 0)
        writer.u64(message.rejectHint)
        writer.blob(message.context)
        writer.u32(UInt32(message.entries.count))
        for entry in message.entries {
            writer.u64(entry.term)
            writer.u64(entry.index)
            writer.u8(entry.kind.rawValue)
            writer.blob(entry.data)
        }
        if let snapshot = message.snapshot {
            writer.u8(1)
            writer.u64(snapshot.metadata.index)
            writer.u64(snapshot.metadata.term)
            writer.u32(UInt32(snapshot.metadata.confState.voters.count))
            for id in snapshot.metadata.confState.voters { writer.u64(id) }
            writer.u32(UInt32(snapshot.metadata.confState.learners.count))
            for id in snapshot.metadata.confState.learners { writer.u64(id) }
            writer.blob(snapshot.data)
        } else {
            writer.u8(0)
        }
    }

    static func decode(_ reader: inout ByteReader) -> Message? {
        guard let rawKind = reader.u8(), let kind = MessageKind(rawValue: rawKind), let to = reader.u64(),
            let from = reader.u64(), let term = reader.u64(), let logTerm = reader.u64(), let index = reader.u64(),
            let commit = reader.u64(), let reject = reader.u8(), let rejectHint = reader.u64(), let context = reader.blob(),
            let entryCount = reader.u32()
        else { return nil }
        var entries: [Entry] = []
        for _ in 0..<entryCount {
            guard let entryTerm = reader.u64(), let entryIndex = reader.u64(), let rawEntryKind = reader.u8(),
                let entryKind = EntryKind(rawValue: rawEntryKind), let data = reader.blob()
            else { return nil }
            entries.append(Entry(term: entryTerm, index: entryIndex, kind: entryKind, data: data))
        }
        var snapshot: Snapshot?
        guard let hasSnapshot = reader.u8() else { return nil }
        if hasSnapshot == 1 {
            guard let snapshotIndex = reader.u64(), let snapshotTerm = reader.u64(), let voterCount = reader.u32() else { return nil }
            var voters: [NodeID] = []
            for _ in 0..<voterCount { guard let id = reader.u64() else { return nil }; voters.append(id) }
            guard let learnerCount = reader.u32() else { return nil }
            var learners: [NodeID] = []
            for _ in 0..<learnerCount { guard let id = reader.u64() else { return nil }; learners.append(id) }
            guard let data = reader.blob() else { return nil }
            snapshot = Snapshot(
                metadata: SnapshotMetadata(index: snapshotIndex, term: snapshotTerm, confState: ConfState(voters: voters, learners: learners)),
                data: data)
        }
        return Message(
            kind: kind, to: to, from: from, term: term, logTerm: logTerm, index: index, entries: entries, commit: commit,
            snapshot: snapshot, reject: reject == 1, rejectHint: rejectHint, context: context)
    }
}
