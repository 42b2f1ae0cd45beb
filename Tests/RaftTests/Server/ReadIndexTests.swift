import SingleNode
import Synchronization
import Testing

@testable import Raft

/// Linearizable reads through the server: concurrent reads share a ReadIndex round, and a read
/// that starts after a write completes sees it, on the leader and on a follower.
@Suite("Linearizable reads (ReadIndex) in a cluster", .serialized, .timeLimit(.minutes(3)))
struct ReadIndexTests {
    /// How many ReadIndex requests a member has started.
    func readIndexesStarted(_ member: TestMember) async throws -> UInt64 {
        let server = member.server!
        return try await server.loop.submit { server.reads.contextsIssued }.get()
    }

    @Test("Concurrent reads share one ReadIndex; a read after a write sees it")
    func readsShareConfirmations() async throws {
        let members = try await startThreeMembers()
        defer { Task { for member in members { await member.stop() } } }

        for (round, member) in [members[0], members[2]].enumerated() {
            // A write acknowledged by the leader, then a read on `member`: the read must see it.
            guard case .completed(.success) = try await members[0].write(.set(key: "/k", value: "v\(round)", expiration: nil)) else {
                Issue.record("the write was not applied")
                return
            }
            try await member.server!.linearizableRead()
            #expect(member.value("/k") == "v\(round)", "a linearizable read on \(member.name) missed an acknowledged write")

            // 64 reads at once: each succeeds, and they ride on far fewer ReadIndex rounds.
            let before = try await readIndexesStarted(member)
            let server = member.server!
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<64 { group.addTask { try await server.linearizableRead() } }
                try await group.waitForAll()
            }
            let started = try await readIndexesStarted(member) - before
            #expect(started >= 1 && started <= 16, "64 concurrent reads on \(member.name) started \(started) ReadIndex rounds")
        }
    }

    @Test("A ReadIndex whose answer was lost is asked again, so reads queued behind it go on")
    func lostReadIndexIsRetried() async throws {
        let members = try await startThreeMembers()
        defer { Task { for member in members { await member.stop() } } }
        try await members[2].server!.linearizableRead()

        // On the follower: a ReadIndex in flight whose request never reached the leader (as when
        // the connection drops just then). Reads arriving now queue behind it.
        let server = members[2].server!
        try await server.loop.submit {
            // Taken into a ReadIndex that is never asked of Raft.
            server.reads.enqueue(server.loop.makePromise(of: Void.self))
            _ = server.reads.startNext(at: server.loop.now)
        }.get()
        let done = Mutex(false)
        let reader = Task {
            try await server.linearizableRead()
            done.withLock { $0 = true }
        }
        defer { reader.cancel() }
        // Retried after half an election timeout (250 ms here), not left to wait for ever.
        try await waitUntil("a read queued behind a lost ReadIndex completes", within: 3) { done.withLock { $0 } }
    }
}

