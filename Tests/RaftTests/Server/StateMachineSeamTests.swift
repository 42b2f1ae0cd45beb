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

/// On the manual clock (`ManualCluster`): every wait below moves the clock a tick at a time.
@Suite("One seam for every replicated state machine", .serialized, .timeLimit(.minutes(2)))
struct StateMachineSeamTests {
    /// Proposes `value` on `server`, moving the clock until it is applied there.
    static func propose(_ value: Int64, on server: RaftServer, in cluster: ManualCluster) async throws -> Int64 {
        try await cluster.outcome(of: server.startProposal(value, to: Tally.self), what: "a tally proposal")
    }

    @Test("A second machine's commands, proposed on a follower, apply on every member in log order, typed results come back, and v1 indexes count them")
    func aSecondMachineRidesTheSameLog() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        let tallies = ["a": Tally(), "b": Tally(), "c": Tally()]
        for name in cluster.founders { try await cluster.start(name, stateMachine: tallies[name]) }
        let leader = try await cluster.electLeader()
        let followers = cluster.founders.filter { $0 != leader }

        guard case .completed(.success(let first)) = try await cluster.write(leader, .set(key: "/a", value: "1", expiration: nil)) else {
            Issue.record("the first v1 write failed")
            return
        }
        // Proposed on followers: forwarded to the leader inside Raft, answered on the proposer.
        let five = try await Self.propose(5, on: cluster[followers[0]], in: cluster)
        let twelve = try await Self.propose(7, on: cluster[followers[1]], in: cluster)
        #expect(five == 5)
        #expect(twelve == 12)
        guard case .completed(.success(let second)) = try await cluster.write(leader, .set(key: "/b", value: "2", expiration: nil)) else {
            Issue.record("the second v1 write failed")
            return
        }
        // v1 indexes are Raft indexes: the two tally entries sit between the two writes.
        #expect(second.index == first.index + 3)
        try await cluster.advance(until: "every member applied both") { tallies.values.allSatisfy { $0.total == 12 } }
        #expect(Set(tallies.values.map(\.indexes)).count == 1, "the same entries at the same indexes everywhere")
        #expect(tallies[leader]!.indexes == [first.index + 1, first.index + 2])
        await cluster.stopAll()
    }

    @Test("A question only the leader can answer, asked on a follower, is answered by the leader's machine")
    func leaderQueriesAreTyped() async throws {
        let cluster = ManualCluster(founders: ["a", "b"])
        for name in cluster.founders { try await cluster.start(name, stateMachine: Tally()) }
        try await cluster.electLeader()
        let leader = cluster[cluster.leader!], follower = cluster[cluster.other(than: cluster.leader!)]
        _ = try await Self.propose(3, on: leader, in: cluster)
        let answer = try await cluster.during("a question for the leader") { try await follower.askLeader("total", of: Tally.self) }
        #expect(answer == "total: 3 on the leader")
        let local = try await cluster.during("a question on the leader") { try await leader.askLeader("here", of: Tally.self) }
        #expect(local == "here: 3 on the leader")
        await cluster.stopAll()
    }

    @Test("A snapshot carries the second machine: a member restarted from it has the same total")
    func snapshotsCarryTheSecondMachine() async throws {
        let cluster = ManualCluster(founders: ["a"])
        try await cluster.start("a", snapshotCount: 4, stateMachine: Tally())
        try await cluster.advance(until: "a leads") { cluster.leader == "a" }
        for value in 1...6 { _ = try await Self.propose(Int64(value), on: cluster["a"], in: cluster) }
        await cluster.stop("a")
        let restarted = Tally()
        try await cluster.start("a", snapshotCount: 4, stateMachine: restarted)
        try await cluster.advance(until: "the restarted member has the total") { restarted.total == 21 }
        // Restored from the snapshot, then only the entries after it replayed.
        #expect(restarted.indexes.count < 6)
        await cluster.stopAll()
    }
}

@Suite("A machine the data directory holds and the binary does not run", .serialized, .timeLimit(.minutes(2)))
struct MissingMachineTests {
    @Test("A member whose snapshot holds another machine's state refuses to start without that machine, rather than drop it")
    func refusesToDropAMachine() async throws {
        let cluster = ManualCluster(founders: ["a"])
        try await cluster.start("a", snapshotCount: 3, stateMachine: Tally())
        try await cluster.advance(until: "a leads") { cluster.leader == "a" }
        for value in 1...5 { _ = try await StateMachineSeamTests.propose(Int64(value), on: cluster["a"], in: cluster) }
        // Snapshots are encoded off the loop: moving the clock lets the save come back to it.
        try await cluster.advance(until: "a snapshot holds the tally") {
            (try? PosixFileSystem().list(cluster.directory.path + "/a/snap"))?.contains { $0.hasSuffix(".snap") && !$0.hasSuffix("0000000000000000.snap") } ?? false
        }
        await cluster.stop("a")
        await #expect(throws: MissingMachine.self) { try await cluster.start("a", snapshotCount: 3) }
        // With the machine, it starts and has it all.
        let tally = Tally()
        try await cluster.start("a", snapshotCount: 3, stateMachine: tally)
        try await cluster.advance(until: "the total is back") { tally.total == 15 }
        await cluster.stopAll()
    }

    @Test("A peer of another protocol version is told so, with the fix")
    func anotherPeerVersionIsNamed() {
        let text = PeerFrameDecoder.stranger(Array("etcd-swift-peer/1\nxxxxxxxx".utf8))
        #expect(text.contains("another version") && text.contains("peer protocol 1") && text.contains("upgrade every member"))
    }
}
