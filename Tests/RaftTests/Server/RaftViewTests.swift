import NIOCore
import Testing

@testable import Raft
import RaftCore
import RaftTestKit
import SingleNode

/// What the live view (`/debug/raft`) publishes: built from the core's own state, never from
/// logs, and bounded however long a member runs.
@Suite("The live Raft view's state", .timeLimit(.minutes(3)))
struct RaftViewStateTests {
    let names: [NodeID: String] = [1: "n1", 2: "n2", 3: "n3"]

    func view(_ cluster: MemoryCluster, _ id: NodeID) -> MemberRaftView {
        RaftViewBuilder.member(
            cluster.node(id), base: MemberRaftView(id: "\(id)", name: names[id]!, clientURL: "", peerURL: ""), names: names,
            snapshotIndex: 0, summarize: { $0.data.isEmpty ? "empty" : String(decoding: $0.data, as: UTF8.self) })
    }

    @Test("A leader's view: its role, term and vote, each follower's progress, and its log tail with what is committed")
    func leaderView() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        try cluster.propose(1, "x")
        cluster.stabilize()
        let leader = view(cluster, 1)
        #expect(leader.role == "leader")
        #expect(leader.term == cluster.node(1).term && leader.term > 0)
        #expect(leader.vote == "n1" && leader.leader == "n1")
        #expect(leader.commit == leader.lastIndex)
        #expect(leader.progress.map(\.name) == ["n2", "n3"])
        #expect(leader.progress.allSatisfy { $0.state == "replicate" && $0.match == leader.lastIndex && $0.inflight == 0 })
        #expect(leader.log.last == LogEntryView(index: leader.lastIndex, term: leader.term, summary: "x", committed: true))

        // An entry the followers have not acknowledged: in the tail, not committed, in flight.
        try cluster.propose(1, "y")
        cluster.handleReady(1)
        let pending = view(cluster, 1)
        #expect(pending.log.last?.summary == "y")
        #expect(pending.log.last?.committed == false)
        #expect(pending.progress.allSatisfy { $0.inflight == 1 })
    }

    @Test("A follower's view names its leader and shows no progress table")
    func followerView() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        let follower = view(cluster, 2)
        #expect(follower.role == "follower")
        #expect(follower.leader == "n1" && follower.vote == "n1")
        #expect(follower.progress.isEmpty)
    }

    @Test("A cut-off member campaigning shows as a pre-candidate with no leader, then rejoins as a follower")
    func preCandidate() throws {
        var cluster = MemoryCluster(size: 3)
        cluster.elect(1)
        cluster.isolate(3)
        for _ in 0..<40 where cluster.node(3).role == .follower {
            cluster.tick(3)
            cluster.stabilize()
        }
        #expect(view(cluster, 3).role == "pre-candidate")
        #expect(view(cluster, 3).leader == "")
        cluster.heal()
        cluster.tickAll(times: 2)
        cluster.stabilize()
        #expect(view(cluster, 3).role == "follower")
        #expect(view(cluster, 3).leader == "n1")
    }

    @Test("The log tail is the last entries only")
    func tailLength() throws {
        var cluster = MemoryCluster(size: 1)
        cluster.elect(1)
        for i in 0..<30 { try cluster.propose(1, "k\(i)") }
        cluster.stabilize()
        let tail = view(cluster, 1).log
        #expect(tail.count == RaftViewBuilder.tailLength)
        #expect(tail.last?.summary == "k29")
        #expect(tail.map(\.index) == Array((cluster.node(1).lastIndex - UInt64(tail.count) + 1)...cluster.node(1).lastIndex))
    }

    @Test("Heartbeats are thinned to one in ten each way; other messages are all kept, up to the cap")
    func recorderThinsAndCaps() {
        var recorder = RaftRecorder()
        for i in 0..<25 { recorder.record(Message(kind: .heartbeat, to: 2, from: 1), from: "n1", to: "n2", at: Int64(i)) }
        #expect(recorder.recentMessages(now: 100, window: 1000, limit: 1000).count == 3)  // the 1st, 11th and 21st
        for i in 0..<(RaftRecorder.messageCapacity + 50) {
            recorder.record(Message(kind: .append, to: 2, from: 1), from: "n1", to: "n2", at: Int64(100 + i))
        }
        let kept = recorder.recentMessages(now: 10_000, window: 100_000, limit: 10_000)
        #expect(kept.count == RaftRecorder.messageCapacity)
        #expect(kept.allSatisfy { $0.kind == "append" })
        #expect(recorder.recentMessages(now: 10_000, window: 100_000, limit: 5).map(\.seq) == kept.suffix(5).map(\.seq))
        // The window: only what was sent within it.
        #expect(recorder.recentMessages(now: 549, window: 10, limit: 1000).map(\.at) == Array(539...549))
    }

    @Test("The timeline records changes of role, term or leader only")
    func recorderTimeline() {
        var recorder = RaftRecorder()
        recorder.observe(role: "follower", term: 1, leader: "", at: 1)
        recorder.observe(role: "follower", term: 1, leader: "", at: 2)
        recorder.observe(role: "candidate", term: 2, leader: "", at: 3)
        recorder.observe(role: "leader", term: 2, leader: "n1", at: 4)
        recorder.observe(role: "follower", term: 3, leader: "n2", at: 5)
        #expect(recorder.allEvents.map(\.text) == ["follower, no leader", "candidate, no leader", "became leader", "follower of n2"])
        #expect(recorder.allEvents.map(\.term) == [1, 2, 2, 3])
        for i in 0..<(RaftRecorder.eventCapacity + 5) { recorder.note("n\(i)", term: 3, at: Int64(10 + i)) }
        #expect(recorder.allEvents.count == RaftRecorder.eventCapacity)
    }
}

@Suite("The live Raft view of a running cluster", .serialized, .timeLimit(.minutes(3)))
struct RaftViewServerTests {
    func startLab(control: String?) async throws -> [TestMember] {
        let members = [TestMember("node1"), TestMember("node2"), TestMember("node3")]
        let settings = RaftViewSettings(labControlURL: control)
        try await members[0].start(raftView: settings)
        try await waitUntil("node1 leads") { members[0].isLeader }
        for member in members.dropFirst() { try await member.start(join: ["127.0.0.1:\(members[0].peerPort)"], raftView: settings) }
        try await waitUntil("every member knows the leader") { members.allSatisfy { $0.server!.status.leader != 0 } }
        return members
    }

    /// Runs `body` on a three-member cluster with the view on, and stops every member after,
    /// whether or not `body` threw.
    func withCluster(control: String?, _ body: ([TestMember]) async throws -> Void) async throws {
        let members = try await startLab(control: control)
        do { try await body(members) } catch {
            for member in members { await member.stop() }
            throw error
        }
        for member in members { await member.stop() }
    }

    @Test("Any member gathers every member's view over the peer port, with v1 entries in words")
    func gathersTheCluster() async throws {
        try await withCluster(control: nil) { members in
        _ = try await members[0].write(.set(key: "/view", value: "1", expiration: nil))
        try await waitUntil("each member's view has the write") {
            let cluster = await members[2].server!.clusterView()
            return cluster.members.count == 3 && cluster.members.allSatisfy { $0.log.last?.summary == "v1 set /view" }
        }
        let cluster = await members[2].server!.clusterView()
        #expect(cluster.servedBy == "node3")
        #expect(cluster.members.map(\.name) == ["node1", "node2", "node3"])
        #expect(cluster.members.filter { $0.role == "leader" }.map(\.name) == ["node1"])
        #expect(cluster.members.allSatisfy { $0.unreachable == nil && $0.lab == nil })
        #expect(cluster.members[0].events.contains { $0.text == "became leader" })
        #expect(cluster.members[0].messages.contains { $0.kind == "append" && $0.to != "node1" })
        // Outside the lab, the controls refuse.
        await #expect(throws: RaftServer.LabError.self) { _ = try await members[0].server!.cut(from: ["node2"]) }

        // A member that stopped is shown unreachable, the others as before.
        await members[1].stop()
        try await waitUntil("node2 shown unreachable") {
            await members[0].server!.clusterView().members.first { $0.name == "node2" }?.unreachable != nil
        }
        let without = await members[0].server!.clusterView()
        #expect(without.members.first { $0.name == "node2" }?.unreachable != nil)
        #expect(without.members.filter { $0.unreachable == nil }.count == 2)
        }
    }

    @Test("In the lab, a member cut off from the others drops their messages, falls behind, and catches up when healed")
    func cutAndHeal() async throws {
        try await withCluster(control: "http://127.0.0.1:1") { members in
        // node3 caught up first, so that the leader streams it appends: a follower the leader
        // still probes gets the next one only after it answers, which a cut member never does.
        try await waitUntil("node3 has applied what the leader committed") {
            let (leader, node3) = (members[0].server!.status, members[2].server!.status)
            return leader.commitIndex > 0 && node3.appliedIndex == leader.commitIndex
        }
        let cut = try await members[2].server!.cut(from: ["node1", "node2"])
        #expect(cut == ["node1", "node2"])
        await #expect(throws: RaftServer.LabError.self) { _ = try await members[2].server!.cut(from: ["nobody"]) }
        _ = try await members[0].write(.set(key: "/while-cut", value: "1", expiration: nil))
        // The append carrying the write reached node3 and was dropped there.
        try await waitUntil("node3 drops the write's append") {
            await members[0].server!.clusterView().members.first { $0.name == "node3" }?.messages
                .contains { $0.dropped && $0.from == "node1" && $0.kind == "append" && $0.entries > 0 } ?? false
        }
        #expect(members[2].value("/while-cut") == nil)
        let during = await members[0].server!.clusterView()
        let node3 = try #require(during.members.first { $0.name == "node3" })
        #expect(node3.cutOff == ["node1", "node2"])
        #expect(node3.lastIndex < during.members[0].lastIndex)

        _ = try await members[2].server!.cut(from: [])
        try await waitUntil("node3 catches up") { members[2].value("/while-cut") == "1" }
        }
    }
}
