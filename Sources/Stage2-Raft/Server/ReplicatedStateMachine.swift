import BinaryCodec
import RaftCore

/// A state machine replicated through the log: the seam between Raft and what it replicates.
/// The v1 store (`StoreMachine`, tag 1) and Stage 4's v3 store (tag 2) are peers behind it, as
/// auth and the v2 store will be: each owns the entries that carry its tag, and the server
/// applies every committed entry, in log order, to the machine that owns it, then hands the
/// typed result back to the member that proposed the command.
///
/// A machine is driven only from the Raft loop (`apply`, `restore`, `leadershipChanged`), and
/// read from anywhere (its own locks decide how).
public protocol ReplicatedStateMachine: AnyObject, Sendable {
    /// What a client asks the machine to do: what its entries carry.
    associatedtype Command: Sendable
    /// What applying a command gave, for the member that proposed it.
    associatedtype Result: Sendable
    /// A question only the leader can answer (about state it keeps without replicating it,
    /// such as when leases run out), and its answer; `Never` for machines with none.
    associatedtype LeaderQuery: Sendable = Never
    associatedtype LeaderAnswer: Sendable = Never

    /// The first byte of this machine's entries, unique among a server's machines.
    static var tag: UInt8 { get }
    /// The command as an entry's payload.
    static func encode(_ command: Command) throws -> [UInt8]
    /// A payload back to its command; nil if this build cannot read it.
    static func decode(_ payload: ArraySlice<UInt8>) -> Command?
    /// A command in a few words for the live view of the log (`v3 put k`); by default, the
    /// machine's type name.
    static func summarize(_ command: Command) -> String
    /// Applies a committed command; `index` is its entry's.
    func apply(_ command: Command, at index: UInt64) -> Result

    /// The machine's whole state as of the last entry applied, for a snapshot.
    func snapshotData() -> [UInt8]
    /// The state as of now, to encode later off the Raft loop (periodic snapshots and backups
    /// must not hold up writes). By default, encoded now.
    func snapshotSource() -> @Sendable () -> [UInt8]
    /// The whole state as of now, for a member that has none of it (a follower behind the
    /// compacted log) or a backup, when a snapshot does not hold it: a machine whose snapshots
    /// only point at state it keeps on disk (Stage 4's backend file) gives here a function that
    /// writes a copy of that state to a new file (called off the Raft loop) and returns a note on
    /// what the copy holds, which the follower's `restore` gets back. Nil (the default):
    /// the snapshot is the whole state. The state given may be newer than the snapshot it is
    /// sent with, so the machine must skip the entries it already holds. A follower's `restore`
    /// then gets `SpooledState.reference(to:note:)` the file it was received into.
    func transferSource() -> (@Sendable (_ path: String) throws -> [UInt8])?
    /// Whether `transferSource` gives state apart from snapshots (then every snapshot sent to
    /// a follower carries it). False by default.
    var sendsStateApart: Bool { get }
    /// The index of the last entry whose effect the machine holds, if it tracks it (after a
    /// leader's copy of its state, this may run ahead of the entries applied); 0 otherwise.
    var appliedThrough: UInt64 { get }
    /// Replaces the whole state with that of a snapshot taken at entry `index`.
    func restore(from data: [UInt8], at index: UInt64) throws
    /// This member became leader (true) or stopped being it (false).
    func leadershipChanged(isLeader: Bool)

    static func encode(query: LeaderQuery) -> [UInt8]
    static func decode(query: ArraySlice<UInt8>) -> LeaderQuery?
    static func encode(answer: LeaderAnswer) -> [UInt8]
    static func decode(answer: ArraySlice<UInt8>) -> LeaderAnswer?
    /// Answers `query` on the leader; nil if it cannot (the server then says no leader).
    func answerAsLeader(_ query: LeaderQuery) -> LeaderAnswer?
    /// Answers `query` from this member's own state, asked by another member over the peer
    /// port (`RaftServer.askMember`), off the Raft loop; nil (the default) if it cannot.
    func answerAsMember(_ query: LeaderQuery) -> LeaderAnswer?
}

extension ReplicatedStateMachine {
    /// `Self.tag`, reachable through an existential.
    var tagValue: UInt8 { Self.tag }

    public static func summarize(_ command: Command) -> String { "\(Self.self) entry" }

    public func snapshotSource() -> @Sendable () -> [UInt8] {
        let data = snapshotData()
        return { data }
    }

    public func transferSource() -> (@Sendable (_ path: String) throws -> [UInt8])? { nil }
    public var sendsStateApart: Bool { false }
    public var appliedThrough: UInt64 { 0 }

    public func leadershipChanged(isLeader: Bool) {}

    public func answerAsMember(_ query: LeaderQuery) -> LeaderAnswer? { nil }
}

/// A machine that asks no questions: nothing calls these, since no value of `Never` exists
/// (hence their empty bodies).
extension ReplicatedStateMachine where LeaderQuery == Never, LeaderAnswer == Never {
    public static func encode(query: Never) -> [UInt8] {}
    public static func decode(query: ArraySlice<UInt8>) -> Never? { nil }
    public static func encode(answer: Never) -> [UInt8] {}
    public static func decode(answer: ArraySlice<UInt8>) -> Never? { nil }
    public func answerAsLeader(_ query: Never) -> Never? {}
}

/// How every normal entry with data is framed, whichever machine owns it: the owner's tag, who
/// proposed it and under which request number (so the proposer, and only it, finds the caller
/// waiting for the result), then the owner's payload. v1 entries written before this seam
/// existed have the same bytes (their tag was always 1).
struct Envelope: Equatable {
    var tag: UInt8
    var origin: NodeID
    var requestID: UInt64
    var payload: ArraySlice<UInt8>

    func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.u8(tag)
        writer.u64(origin)
        writer.u64(requestID)
        writer.bytes += payload
        return writer.bytes
    }

    init(tag: UInt8, origin: NodeID, requestID: UInt64, payload: ArraySlice<UInt8>) {
        (self.tag, self.origin, self.requestID, self.payload) = (tag, origin, requestID, payload)
    }

    init?(decoding bytes: [UInt8]) {
        var reader = ByteReader(bytes[...])
        guard let tag = reader.u8(), let origin = reader.u64(), let requestID = reader.u64() else { return nil }
        self.init(tag: tag, origin: origin, requestID: requestID, payload: bytes[reader.position...])
    }
}

/// A registered machine with its types erased, so the server can keep machines of different
/// types in one table; each closure was made by `init(_:)` from the machine's own types, so the
/// results it returns are always that machine's `Result` and `LeaderAnswer`.
struct MachineSlot: Sendable {
    let tag: UInt8
    let apply: @Sendable (ArraySlice<UInt8>, UInt64) -> (any Sendable)?
    let answer: @Sendable (ArraySlice<UInt8>) -> [UInt8]?
    let answerAsMember: @Sendable (ArraySlice<UInt8>) -> [UInt8]?
    let summarize: @Sendable (ArraySlice<UInt8>) -> String?
    let machine: any ReplicatedStateMachine

    init<Machine: ReplicatedStateMachine>(_ machine: Machine) {
        tag = Machine.tag
        self.machine = machine
        apply = { payload, index in Machine.decode(payload).map { machine.apply($0, at: index) } }
        answer = { query in
            Machine.decode(query: query).flatMap { machine.answerAsLeader($0) }.map { Machine.encode(answer: $0) }
        }
        summarize = { payload in Machine.decode(payload).map(Machine.summarize) }
        answerAsMember = { query in
            Machine.decode(query: query).flatMap { machine.answerAsMember($0) }.map { Machine.encode(answer: $0) }
        }
    }
}
