import NIOCore
import RaftCore
import RaftDisk
import SingleNode
import Testing

@testable import Raft

/// The cluster's behaviour on a manual clock and an in-memory network (`ManualCluster`): the
/// real servers, disks and codec, but time moves only when the test moves it, so every
/// duration below is a claim about the protocol, not about how busy the machine was.
@Suite("A cluster on a manual clock, without sockets", .serialized, .timeLimit(.minutes(2)))
struct ManualClockClusterTests {
    @Test("Founders elect one leader within an election timeout or two, and a write reaches every member")
    func electAndReplicate() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        try await cluster.startAll()
        // Elections start after 10-20 ticks without a leader (1-2 s of the clock here).
        let took = try await cluster.advance(until: "a leader") { cluster.leader != nil }
        #expect(took <= .seconds(4), "took \(took.nanoseconds / 1_000_000) ms to elect")
        let leader = try #require(cluster.leader)

        guard case .completed(.success(let response)) = try await cluster.write(leader, .set(key: "/k", value: "v", expiration: nil)) else {
            Issue.record("the write on the leader was not applied")
            return
        }
        // The founders' three entries, the leader's empty entry, then the write.
        #expect(response.index == 5)
        try await cluster.advance(until: "every member applied the write") { ["a", "b", "c"].allSatisfy { cluster.value($0, "/k") == "v" } }

        // A follower does not take writes: it names the leader's client URL.
        guard case .redirect(let location) = try await cluster.write(cluster.other(than: leader), .set(key: "/k", value: "w", expiration: nil)) else {
            Issue.record("a follower accepted a write")
            return
        }
        #expect(location == ManualCluster.member(leader).clientURL)
        await cluster.stopAll()
    }

    @Test("The same steps elect the same leader at the same moment of the clock")
    func repeatable() async throws {
        var runs: [(leader: String, took: TimeAmount)] = []
        for _ in 0..<2 {
            let cluster = ManualCluster(founders: ["a", "b", "c"])
            try await cluster.startAll()
            let took = try await cluster.advance(until: "a leader") { cluster.leader != nil }
            runs.append((try #require(cluster.leader), took))
            await cluster.stopAll()
        }
        #expect(runs[0].leader == runs[1].leader && runs[0].took == runs[1].took)
    }

    @Test("A leader cut off from the others steps down; they elect another; healed, it follows and catches up")
    func partitionedLeader() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        try await cluster.startedWithLeader()
        let old = try #require(cluster.leader)
        let others = ["a", "b", "c"].filter { $0 != old }

        cluster.network.isolate(cluster.url(old), from: others.map(cluster.url))
        // A write it takes now cannot commit: it fails when the request timeout (2 s) runs out,
        // or sooner if the leader steps down first (check-quorum), but never succeeds.
        let stranded = ReplicatedBackend(server: cluster[old]).write(.set(key: "/k", value: "lost", expiration: nil), issuedAt: cluster.wallClock.now(), on: cluster.loop)
        try await cluster.advance(until: "another leader") {
            let id = cluster[others[0]].status.leader
            return id != 0 && id != cluster[old].id && cluster[others[1]].status.leader == id
        }
        let outcome = try await cluster.outcome(of: stranded, what: "the cut-off leader answers")
        if case .completed(.success) = outcome { Issue.record("a write on a leader cut off from its quorum succeeded") }
        // Check-quorum: without hearing from a majority for an election timeout, it steps down.
        try await cluster.advance(until: "the old leader steps down", within: .seconds(3)) { cluster[old].node.role != .leader }

        let new = try #require(cluster.servers.first { $0.value.id == cluster[others[0]].status.leader }?.key)
        guard case .completed(.success) = try await cluster.write(new, .set(key: "/k", value: "after", expiration: nil)) else {
            Issue.record("the new leader did not apply a write")
            return
        }
        #expect(cluster.value(old, "/k") == nil)

        cluster.network.heal()
        try await cluster.advance(until: "the old leader catches up") { cluster.value(old, "/k") == "after" }
        #expect(cluster.leader == new)
        await cluster.stopAll()
    }

    @Test("Every member stops and starts again from its disk: a leader is elected and every write is there")
    func restartEveryMember() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        try await cluster.startedWithLeader()
        for n in 0..<20 {
            guard case .completed(.success) = try await cluster.write(cluster.leader!, .set(key: "/k\(n)", value: "v\(n)", expiration: nil)) else {
                Issue.record("write \(n) failed")
                return
            }
        }
        await cluster.stopAll()
        try await cluster.startAll()
        try await cluster.advance(until: "a leader after the restart") { cluster.leader != nil }
        try await cluster.advance(until: "every write on every member") {
            ["a", "b", "c"].allSatisfy { name in (0..<20).allSatisfy { cluster.value(name, "/k\($0)") == "v\($0)" } }
        }
        await cluster.stopAll()
    }

    @Test("A proposal that cannot commit fails at the request timeout, not before, v1 and v3 alike")
    func proposalsTimeOut() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        // Shorter than an election timeout (1-2 s): the leader still leads when it runs out.
        for name in cluster.founders { try await cluster.start(name, requestTimeout: .milliseconds(500), stateMachine: Tally()) }
        let leader = try await cluster.electLeader()
        guard case .completed(.success) = try await cluster.write(leader, .set(key: "/k", value: "1", expiration: nil)) else {
            Issue.record("the first write was not applied")
            return
        }
        for name in cluster.founders where name != leader { await cluster.stop(name) }

        let server = cluster[leader]
        let v1 = ReplicatedBackend(server: server).write(.set(key: "/k", value: "2", expiration: nil), issuedAt: cluster.wallClock.now(), on: cluster.loop)
        let v3 = server.startProposal(1, to: Tally.self)
        let answered = Flag()
        v1.and(v3.map { _ in () }.recover { _ in () }).whenComplete { _ in answered.set() }
        await cluster.advance(by: .milliseconds(400))
        #expect(!answered.isSet, "a proposal failed before its request timeout")
        let took = try await cluster.advance(until: "both proposals fail") { answered.isSet }
        #expect(took <= .milliseconds(200))
        guard case .completed(.failure(let error)) = try await v1.get() else {
            Issue.record("a v1 write without a quorum did not fail")
            return
        }
        #expect("\(error)".contains("Command timeout"))
        await #expect(throws: ProposalError.timedOut) { try await v3.get() }
        await cluster.stopAll()
    }

    @Test("A linearizable read on a follower sees the write before it; cut off from the leader, it fails at the request timeout")
    func readIndexOnAFollower() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        // Shorter than an election timeout (1-2 s), so the cut-off follower still has a leader
        // when its read runs out of time.
        try await cluster.startAll(requestTimeout: .milliseconds(500))
        let leader = try await cluster.electLeader()
        let follower = cluster.other(than: leader)

        guard case .completed(.success) = try await cluster.write(leader, .set(key: "/k", value: "v", expiration: nil)) else {
            Issue.record("the write was not applied")
            return
        }
        try await cluster.outcome(of: cluster[follower].startLinearizableRead(), what: "a read on the follower")
        #expect(cluster.value(follower, "/k") == "v")

        // Cut off from the leader, the follower cannot confirm a read index: the read waits,
        // and fails once the request timeout has run out, not before.
        cluster.network.cut(cluster.url(follower), cluster.url(leader))
        let read = cluster[follower].startLinearizableRead()
        let failed = Flag()
        read.whenFailure { _ in failed.set() }
        await cluster.advance(by: .milliseconds(400))
        #expect(!failed.isSet, "the read failed before the request timeout")
        let took = try await cluster.advance(until: "the read fails") { failed.isSet }
        #expect(took <= .milliseconds(200))
        await #expect(throws: ProposalError.timedOut) { try await read.get() }

        // Healed, and once every member agrees on a leader again, reads go on.
        cluster.network.heal()
        try await cluster.advance(until: "a leader after healing") { cluster.leader != nil }
        try await cluster.outcome(of: cluster[follower].startLinearizableRead(), what: "a read after healing")
        await cluster.stopAll()
    }
}

/// Membership changes on the manual clock: a learner added by URL joins through the memory
/// network, catches up from a snapshot streamed on a connection of its own, is promoted, and
/// applies its own removal. What the socket version of this test polled for, this one reaches
/// by moving the clock.
@Suite("Membership on a manual clock, without sockets", .serialized, .timeLimit(.minutes(2)))
struct ManualClockMembershipTests {
    @Test("A learner added by URL joins, catches up from a streamed snapshot, is promoted, and stops when removed")
    func learnerLifecycle() async throws {
        let cluster = ManualCluster(founders: ["a"])
        try await cluster.start("a", snapshotCount: 8)
        try await cluster.advance(until: "a leads") { cluster.leader == "a" }
        // Values large enough that the snapshot (past 1 KiB pieces) goes on a stream of its own.
        let value = String(repeating: "v", count: 200)
        for n in 0..<20 {
            guard case .completed(.success) = try await cluster.write("a", .set(key: "/k\(n)", value: value, expiration: nil)) else {
                Issue.record("write \(n) failed")
                return
            }
        }
        let leader = cluster["a"]
        let url = cluster.url("d")
        let added = try await cluster.during("the learner is added") { try await leader.changeMembership(.add(peerURL: url, isLearner: true)) }
        let assigned = added.member.id
        #expect(assigned != ManualCluster.member("d").id, "not its name's ID: its name is not known yet")
        #expect(added.learners == [assigned])
        await #expect(throws: MembershipError.learnerNotReady) {
            try await cluster.during("a promotion asked too early") { try await leader.changeMembership(.promote(id: assigned)) }
        }

        // It starts as `--initial-cluster-state existing` does: joining through a member.
        let aURL = cluster.url("a")
        try await cluster.during("d joins") { try await cluster.start("d", join: [aURL], snapshotCount: 8) }
        #expect(cluster["d"].status.memberID == assigned)
        try await cluster.advance(until: "d has the data and has published its name") {
            cluster.value("d", "/k19") == value && cluster.value("d", "/k0") == value
                && leader.status.members.contains { $0.id == assigned && $0.name == "d" }
        }
        // The leader's log starts after a snapshot, yet d has /k0, written before it: d caught up
        // from a snapshot, and one past the 1 KiB pieces goes on a connection of its own.
        #expect(leader.storage.firstIndex() > 2)
        let snapshotBytes = try leader.storage.snapshot().data.count
        #expect(snapshotBytes > 1024)

        try await cluster.during("the promotion") { try await leader.changeMembership(.promote(id: assigned)) }
        #expect(leader.status.learners.isEmpty)
        guard case .completed(.success) = try await cluster.write("a", .set(key: "/after", value: "promotion", expiration: nil)) else {
            Issue.record("a write failed after the promotion: it needs both voters")
            return
        }

        // Restarts keep the assigned ID (recorded beside the log) and the member table.
        await cluster.stop("d")
        try await cluster.start("d", snapshotCount: 8)
        #expect(cluster["d"].status.memberID == assigned)
        await cluster.stop("a")
        try await cluster.start("a", snapshotCount: 8)
        try await cluster.advance(until: "a leader again after both restarted") { cluster.leader != nil }
        #expect(cluster["a"].status.members.map(\.name).sorted() == ["a", "d"])

        // Removed, it applies its own removal and says so (asked of whoever leads now).
        let remover = cluster[cluster.leader!]
        let removed = Flag()
        let removals = cluster["d"].removals
        let listener = Task {
            for await _ in removals {
                removed.set()
                break
            }
        }
        try await cluster.during("the removal") { try await remover.changeMembership(.remove(id: assigned)) }
        try await cluster.advance(until: "d hears of its removal") { removed.isSet }
        listener.cancel()
        try await cluster.advance(until: "a alone leads") { cluster["a"].status.leader == cluster["a"].id }
        #expect(cluster["a"].status.members.map(\.name) == ["a"])
        #expect(!cluster["a"].machine.machines().map(\.name).contains("d"))
        await cluster.stopAll()
    }

    @Test("A follower forwards changes to the leader; bad requests get etcd's reasons; a removed member is told so")
    func forwardingAndRefusals() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        try await cluster.startAll()
        try await cluster.advance(until: "a leader with every member published") {
            cluster.leader != nil && cluster.servers.values.allSatisfy { $0.status.members.allSatisfy { !$0.clientURL.isEmpty } }
        }
        let leader = cluster.leader!
        let follower = cluster[cluster.other(than: leader)]
        let c = ManualCluster.member("c").id
        let updated = try await cluster.during("an update forwarded to the leader") {
            try await follower.changeMembership(.update(id: c, peerURL: "http://c:2380"))
        }
        #expect(updated.members.count == 3)

        let refusals: [(MembershipRequest, MembershipError)] = [
            (.add(peerURL: "c:9", isLearner: false), .badURL),
            (.add(peerURL: cluster.url("a"), isLearner: true), .peerURLExists),
            (.remove(id: 12345), .notFound),
            (.promote(id: c), .notLearner),
        ]
        for (request, reason) in refusals {
            await #expect(throws: reason) { try await cluster.during("\(request)") { try await follower.changeMembership(request) } }
        }

        // With one voter down, a new voter would leave the quorum at the mercy of one more
        // failure: refused (etcd's --strict-reconfig-check). Removing the one that is down is fine.
        let victim = cluster.other(than: leader, cluster.servers.first { $0.value === follower }!.key)
        let victimID = cluster[victim].id
        await cluster.stop(victim)
        let survivor = cluster[leader]
        // Counted as down once silent for the health interval (5 ticks), or at once with its
        // connection closed.
        let connected = try await cluster.during("the leader's view of who is connected") { await survivor.connectedMembers() }
        #expect(!connected.contains(victimID))
        await #expect(throws: MembershipError.unhealthy) {
            try await cluster.during("a voter added with one down") { try await survivor.changeMembership(.add(peerURL: "http://x:2380", isLearner: false)) }
        }
        let after = try await cluster.during("the removal") { try await survivor.changeMembership(.remove(id: victimID)) }
        #expect(after.members.count == 2 && !after.members.contains { $0.id == victimID })

        // The removed member comes back with its old data directory: it never applied its
        // removal, but the others refuse it and say why, and it stops (etcd's HTTP 410).
        try await cluster.start(victim)
        let removed = Flag()
        let removals = cluster[victim].removals
        let listener = Task { for await _ in removals { removed.set(); break } }
        try await cluster.advance(until: "the removed member hears it was removed") { removed.isSet }
        listener.cancel()
        await cluster.stop(victim)

        // Its name's ID is not handed out again: a fresh start under that name is refused.
        let leaderURL = cluster.url(leader)
        await #expect(throws: JoinError.self) {
            try await cluster.during("a fresh start under a removed name") { try await cluster.start(victim, join: [leaderURL], dataName: "\(victim)-fresh") }
        }
        await cluster.stopAll()
    }

    @Test("--strict-reconfig-check=false lets a leader add a voter while one member is down (etcd's unchecked mode)")
    func uncheckedReconfiguration() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        for name in cluster.founders { try await cluster.start(name, strictReconfigCheck: false) }
        try await cluster.electLeader()
        let leader = cluster[cluster.leader!]
        let victim = cluster.other(than: cluster.leader!)
        let victimID = cluster[victim].id
        await cluster.stop(victim)
        let connected = try await cluster.during("the leader's view of who is connected") { await leader.connectedMembers() }
        #expect(!connected.contains(victimID))
        // The strict check refuses this very change ("unhealthy", in forwardingAndRefusals).
        let added = try await cluster.during("a voter added with one down") {
            try await leader.changeMembership(.add(peerURL: "http://x:2380", isLearner: false))
        }
        #expect(added.members.count == 4)
        #expect(added.learners.isEmpty)
        await cluster.stopAll()
    }

    @Test("A joiner stopped before its join completed joins again on restart")
    func interruptedJoin() async throws {
        let cluster = ManualCluster(founders: ["a"])
        try await cluster.start("a")
        try await cluster.advance(until: "a leads") { cluster.leader == "a" }
        // What a joiner leaves when it stops before the answer: an empty log, no member ID.
        _ = try DiskStorage.open(directory: cluster.directory.path + "/b", initialConfState: ConfState())
        let url = cluster.url("a")
        try await cluster.during("b joins") { try await cluster.start("b", join: [url]) }
        try await cluster.advance(until: "a counts b as a member") { cluster["a"].status.members.count == 2 }
        guard case .completed(.success) = try await cluster.write("a", .set(key: "/after", value: "join", expiration: nil)) else {
            Issue.record("a write after the join failed")
            return
        }
        try await cluster.advance(until: "b has the write") { cluster.value("b", "/after") == "join" }
        await cluster.stopAll()
    }
}
