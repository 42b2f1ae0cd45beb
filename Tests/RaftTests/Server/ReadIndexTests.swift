import NIOCore
import SingleNode
import Synchronization
import Testing

@testable import Raft

/// Linearizable reads through the server, on the manual clock: concurrent reads share a
/// ReadIndex round, a read that starts after a write completes sees it, on the leader and on a
/// follower, and a round whose answer was lost is asked again after half an election timeout.
@Suite("Linearizable reads (ReadIndex) in a cluster", .serialized, .timeLimit(.minutes(2)))
struct ReadIndexTests {
    /// How many ReadIndex rounds `server` has started.
    func roundsStarted(_ server: RaftServer) async throws -> UInt64 {
        try await server.loop.submit { server.reads.contextsIssued }.get()
    }

    @Test("Concurrent reads share one ReadIndex; a read after a write sees it")
    func readsShareConfirmations() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        let leader = try await cluster.startedWithLeader()

        for (round, name) in [leader, cluster.other(than: leader)].enumerated() {
            // A write acknowledged by the leader, then a read on `name`: the read must see it.
            guard case .completed(.success) = try await cluster.write(leader, .set(key: "/k", value: "v\(round)", expiration: nil)) else {
                Issue.record("the write was not applied")
                return
            }
            let server = cluster[name]
            try await cluster.outcome(of: server.startLinearizableRead(), what: "a read on \(name)")
            #expect(cluster.value(name, "/k") == "v\(round)", "a linearizable read on \(name) missed an acknowledged write")

            // 64 reads asked together: the first starts a round at once, the other 63 queue
            // behind it and share the next. Two rounds, whatever the machine's speed.
            let before = try await roundsStarted(server)
            let reads = try await cluster.loop.submit { (0..<64).map { _ in server.startLinearizableRead() } }.get()
            for read in reads { try await cluster.outcome(of: read, what: "64 reads on \(name)") }
            let started = try await roundsStarted(server) - before
            #expect(started == 2, "64 reads on \(name) started \(started) ReadIndex rounds")
        }
        await cluster.stopAll()
    }

    @Test("A ReadIndex whose answer was lost is asked again after half an election timeout, so reads queued behind it go on")
    func lostReadIndexIsRetried() async throws {
        let cluster = ManualCluster(founders: ["a", "b", "c"])
        try await cluster.startedWithLeader()
        let server = cluster[cluster.other(than: cluster.leader!)]
        try await cluster.outcome(of: server.startLinearizableRead(), what: "a first read")

        // On the follower: a ReadIndex whose request never reaches the leader (the connection
        // is down just then, and comes back at once). Reads arriving now queue behind it.
        cluster.network.cut(cluster.url(cluster.leader!), server.configuration.member.peerURL)
        let lost = server.startLinearizableRead()
        await cluster.settle()
        cluster.network.heal()
        let read = server.startLinearizableRead()
        let done = Flag()
        read.and(lost).whenSuccess { _ in done.set() }
        // Half an election timeout is 5 ticks (500 ms): not before, and not much after.
        await cluster.advance(by: .milliseconds(400))
        #expect(!done.isSet, "the read went on before the lost round was asked again")
        let took = try await cluster.advance(until: "a read queued behind a lost ReadIndex completes") { done.isSet }
        #expect(took <= .milliseconds(300))
        try await lost.get()
        await cluster.stopAll()
    }
}
