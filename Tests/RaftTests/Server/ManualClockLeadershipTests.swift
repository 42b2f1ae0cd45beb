import NIOCore
import RaftCore
import SingleNode
import Testing

@testable import Raft

/// What only a leader does, on the manual clock: deciding TTL expiries (`Proposer`) and handing
/// leadership over (`Leadership`). The wall clock that dates TTLs moves apart from the loop's.
@Suite("Leaders on a manual clock: TTL expiries and leadership transfer", .serialized, .timeLimit(.minutes(2)))
struct ManualClockLeadershipTests {
    @Test("The leader alone expires a key, with one entry every member applies at the same index; a new leader takes over the expiries")
    func leaderExpiresKeys() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        // The founders' client URLs are in the initial cluster: none is published through the
        // log, so the entries counted below are the writes and the expiries alone.
        let leader = try await cluster.startedWithLeader()
        let expiration = Timestamp(nanoseconds: cluster.wallClock.now().nanoseconds + 5_000_000_000)
        guard case .completed(.success(let set)) = try await cluster.write(leader, .set(key: "/ttl", value: "v", expiration: expiration)) else {
            Issue.record("the write with a TTL was not applied")
            return
        }
        try await cluster.advance(until: "every member has the key") { cluster.founders.allSatisfy { cluster.value($0, "/ttl") == "v" } }

        // Ticks pass, the loop's clock moves, but the key's time has not come.
        await cluster.advance(by: .seconds(2))
        #expect(cluster.founders.allSatisfy { cluster.value($0, "/ttl") == "v" }, "expired before its time")
        // Its time comes while the leader is cut off for half an election timeout: the expiry it
        // proposes cannot commit, and every tick meanwhile finds the key still due.
        cluster.wallClock.advance(seconds: 5)
        let followers = cluster.founders.filter { $0 != leader }
        cluster.network.isolate(cluster.url(leader), from: followers.map(cluster.url))
        await cluster.advance(by: .milliseconds(500))
        #expect(cluster.value(leader, "/ttl") == "v", "applied without a quorum")
        cluster.network.heal()
        await cluster.advance(by: .seconds(1))
        #expect(cluster.founders.allSatisfy { cluster.value($0, "/ttl") == nil }, "not expired everywhere once healed")
        guard case .completed(.success(let next)) = try await cluster.write(leader, .set(key: "/next", value: "1", expiration: nil)) else {
            Issue.record("the write after the expiry was not applied")
            return
        }
        #expect(next.index == set.index + 2, "one expiry entry between the two writes, though five ticks found the key due")
        try await cluster.advance(until: "every member applied the write after the expiry") {
            cluster.founders.allSatisfy { cluster[$0].machine.appliedIndex == next.index }
        }

        // The leader is cut off before a second key's time: it cannot commit an expiry, and
        // once it steps down it proposes none; the new leader expires the key.
        let second = Timestamp(nanoseconds: cluster.wallClock.now().nanoseconds + 5_000_000_000)
        guard case .completed(.success) = try await cluster.write(leader, .set(key: "/ttl2", value: "v", expiration: second)) else {
            Issue.record("the second write with a TTL was not applied")
            return
        }
        try await cluster.advance(until: "every member has the second key") { cluster.founders.allSatisfy { cluster.value($0, "/ttl2") == "v" } }
        let others = cluster.founders.filter { $0 != leader }
        cluster.network.isolate(cluster.url(leader), from: others.map(cluster.url))
        try await cluster.advance(until: "another leader among the others") {
            let id = cluster[others[0]].status.leader
            return id != 0 && id != cluster[leader].id && cluster[others[1]].status.leader == id
        }
        try await cluster.advance(until: "the old leader steps down") { cluster[leader].node.role != .leader }
        cluster.wallClock.advance(seconds: 5)
        await cluster.advance(by: .seconds(1))
        #expect(others.allSatisfy { cluster.value($0, "/ttl2") == nil }, "the new leader did not expire the key")

        cluster.network.heal()
        try await cluster.advance(until: "the old leader catches up") { cluster.value(leader, "/ttl2") == nil }
        await cluster.stopAll()
    }

    @Test("A leader hands leadership to the voter asked, which leads one term later; the wrong asks are refused")
    func transferOnRequest() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        let first = try await cluster.startedWithLeader()
        let target = cluster.other(than: first)
        let term = cluster[first].status.term

        let (old, new) = (cluster[first], cluster[target])
        try await cluster.result(of: "the transfer to \(target)") { try await old.transferLeadership(to: new.id) }
        #expect(cluster.leader == target)
        #expect(new.status.term == term + 1, "not the transfer's single election")
        #expect(old.node.role == .follower)

        // Refused at once, so with the clock stopped.
        await #expect(throws: RaftServer.TransferError.notLeader) {
            try await cluster.during("a transfer asked of a follower") { try await old.transferLeadership(to: old.id) }
        }
        await #expect(throws: RaftServer.TransferError.badTransferee) {
            try await cluster.during("a transfer to the leader itself") { try await new.transferLeadership(to: new.id) }
        }
        await #expect(throws: RaftServer.TransferError.badTransferee) {
            try await cluster.during("a transfer to no member") { try await new.transferLeadership(to: 42) }
        }
        #expect(cluster.leader == target, "a refused transfer moved leadership")
        await cluster.stopAll()
    }

    @Test("Before stopping, a leader hands over to the voter with the most of its log")
    func transferBeforeStopping() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        let leader = try await cluster.startedWithLeader()
        let (ahead, behind) = (cluster.other(than: leader), cluster.other(than: leader, cluster.other(than: leader)))
        // One follower is down for the last writes: the other has more of the log. It comes back
        // cut off from the leader, so that it is up when the leader chooses but cannot catch up
        // first (caught up, the two would tie).
        await cluster.stop(behind)
        for n in 0..<3 {
            guard case .completed(.success) = try await cluster.write(leader, .set(key: "/k\(n)", value: "v", expiration: nil)) else {
                Issue.record("write \(n) failed")
                return
            }
        }
        cluster.network.cut(cluster.url(leader), cluster.url(behind))
        try await cluster.start(behind)
        let server = cluster[leader]
        try await cluster.result(of: "the transfer before stopping") { await server.transferLeadershipBeforeStopping() }
        #expect(cluster[ahead].status.leader == cluster[ahead].id, "the most up-to-date voter does not lead")
        #expect(server.node.role != .leader)
        await cluster.stopAll()
    }
}
