import BinaryCodec
@testable import Raft
import RaftDisk
import SingleNode
import Synchronization
import Testing

/// A machine as small as the seam allows: it adds the numbers proposed to it. The v1 store and
/// the v3 store stand behind the same protocol.
final class Tally: ReplicatedStateMachine {
    struct State {
        var total: Int64 = 0
        var indexes: [UInt64] = []
        var isLeader = false
    }

    let state = Mutex(State())

    static let tag: UInt8 = 7

    static func encode(_ command: Int64) -> [UInt8] {
        var writer = ByteWriter()
        writer.u64(UInt64(bitPattern: command))
        return writer.bytes
    }

    static func decode(_ payload: ArraySlice<UInt8>) -> Int64? {
        var reader = ByteReader(payload)
        return reader.u64().map { Int64(bitPattern: $0) }
    }

    func apply(_ command: Int64, at index: UInt64) -> Int64 {
        state.withLock { state in
            state.total += command
            state.indexes.append(index)
            return state.total
        }
    }

    func snapshotData() -> [UInt8] { Self.encode(state.withLock { $0.total }) }

    func restore(from data: [UInt8], at index: UInt64) throws {
        guard let total = Self.decode(data[...]) else { throw TallyError() }
        state.withLock { $0.total = total }
    }

    func leadershipChanged(isLeader: Bool) { state.withLock { $0.isLeader = isLeader } }

    /// Asked of the leader only: its total, and that it leads.
    static func encode(query: String) -> [UInt8] { Array(query.utf8) }
    static func decode(query: ArraySlice<UInt8>) -> String? { String(decoding: query, as: UTF8.self) }
    static func encode(answer: String) -> [UInt8] { Array(answer.utf8) }
    static func decode(answer: ArraySlice<UInt8>) -> String? { String(decoding: answer, as: UTF8.self) }

    func answerAsLeader(_ query: String) -> String? {
        state.withLock { state in state.isLeader ? "\(query): \(state.total) on the leader" : nil }
    }

    var total: Int64 { state.withLock { $0.total } }
    var indexes: [UInt64] { state.withLock { $0.indexes } }
}

struct TallyError: Error {}

@Suite("One seam for every replicated state machine", .serialized, .timeLimit(.minutes(3)))
struct StateMachineSeamTests {
    @Test("A second machine's commands, proposed on a follower, apply on every member in log order, typed results come back, and v1 indexes count them")
    func aSecondMachineRidesTheSameLog() async throws {
        let members = [TestMember("node1"), TestMember("node2"), TestMember("node3")]
        let tallies = [Tally(), Tally(), Tally()]
        try await members[0].start(stateMachine: tallies[0])
        try await waitUntil("node1 leads") { members[0].isLeader }
        for position in 1...2 { try await members[position].start(join: [members[0].member.peerURL], stateMachine: tallies[position]) }
        defer { Task { for member in members { await member.stop() } } }

        guard case .completed(.success(let first)) = try await members[0].write(.set(key: "/a", value: "1", expiration: nil)) else {
            Issue.record("the first v1 write failed")
            return
        }
        // Proposed on followers: forwarded to the leader inside Raft, answered on the proposer.
        let five = try await members[1].server!.propose(5, to: Tally.self)
        let twelve = try await members[2].server!.propose(7, to: Tally.self)
        #expect(five == 5)
        #expect(twelve == 12)
        guard case .completed(.success(let second)) = try await members[0].write(.set(key: "/b", value: "2", expiration: nil)) else {
            Issue.record("the second v1 write failed")
            return
        }
        // v1 indexes are Raft indexes: the two tally entries sit between the two writes.
        #expect(second.index == first.index + 3)
        try await waitUntil("every member applied both") { tallies.allSatisfy { $0.total == 12 } }
        #expect(Set(tallies.map(\.indexes)).count == 1, "the same entries at the same indexes everywhere")
        #expect(tallies[0].indexes == [first.index + 1, first.index + 2])
    }

    @Test("A question only the leader can answer, asked on a follower, is answered by the leader's machine")
    func leaderQueriesAreTyped() async throws {
        let members = [TestMember("node1"), TestMember("node2")]
        let tallies = [Tally(), Tally()]
        try await members[0].start(stateMachine: tallies[0])
        try await waitUntil("node1 leads") { members[0].isLeader }
        try await members[1].start(join: [members[0].member.peerURL], stateMachine: tallies[1])
        defer { Task { for member in members { await member.stop() } } }
        _ = try await members[0].server!.propose(3, to: Tally.self)
        let answer = try await members[1].server!.askLeader("total", of: Tally.self)
        #expect(answer == "total: 3 on the leader")
        let local = try await members[0].server!.askLeader("here", of: Tally.self)
        #expect(local == "here: 3 on the leader")
    }

    @Test("A snapshot carries the second machine: a member restarted from it has the same total")
    func snapshotsCarryTheSecondMachine() async throws {
        let member = TestMember("node1")
        let tally = Tally()
        try await member.start(snapshotCount: 4, stateMachine: tally)
        try await waitUntil("node1 leads") { member.isLeader }
        for value in 1...6 { _ = try await member.server!.propose(Int64(value), to: Tally.self) }
        await member.stop()
        let restarted = Tally()
        try await member.start(snapshotCount: 4, stateMachine: restarted)
        defer { Task { await member.stop() } }
        try await waitUntil("the restarted member has the total") { restarted.total == 21 }
        // Restored from the snapshot, then only the entries after it replayed.
        #expect(restarted.indexes.count < 6)
    }
}

@Suite("A machine the data directory holds and the binary does not run", .serialized, .timeLimit(.minutes(3)))
struct MissingMachineTests {
    @Test("A member whose snapshot holds another machine's state refuses to start without that machine, rather than drop it")
    func refusesToDropAMachine() async throws {
        let member = TestMember("node1")
        try await member.start(snapshotCount: 3, stateMachine: Tally())
        try await waitUntil("node1 leads") { member.isLeader }
        for value in 1...5 { _ = try await member.server!.propose(Int64(value), to: Tally.self) }
        try await waitUntil("a snapshot holds the tally") {
            (try? PosixFileSystem().list(member.directory.path + "/data/snap"))?.contains { $0.hasSuffix(".snap") } ?? false
        }
        await member.stop()
        await #expect(throws: RaftServer.MissingMachine.self) { try await member.start(snapshotCount: 3) }
        // With the machine, it starts and has it all.
        let tally = Tally()
        try await member.start(snapshotCount: 3, stateMachine: tally)
        defer { Task { await member.stop() } }
        try await waitUntil("the total is back") { tally.total == 15 }
    }

    @Test("A peer of another protocol version is told so, with the fix")
    func anotherPeerVersionIsNamed() {
        let text = PeerFrameDecoder.stranger(Array("etcd-swift-peer/1\nxxxxxxxx".utf8))
        #expect(text.contains("another version") && text.contains("peer protocol 1") && text.contains("upgrade every member"))
    }
}
