import NIOCore
import NIOEmbedded
import RaftCore
import Testing

@testable import Raft

/// Linearizable reads on one member, with the core played by hand (whether a leader is known,
/// the ReadIndex requests it is asked) and time on a manual clock.
@Suite("Linearizable reads on one member")
struct LinearizableReadsTests {
    /// The core's side: whether it knows a leader, and the ReadIndex contexts asked of it.
    final class Core: @unchecked Sendable {
        var hasLeader = true
        var asked: [[UInt8]] = []
    }

    /// A read (or wait) and how it ended, if it has.
    final class Outcome: @unchecked Sendable {
        var result: Result<Void, any Error>?
        var succeeded: Bool { if case .success = result { true } else { false } }
        func failed(with error: ProposalError) -> Bool {
            if case .failure(let failure) = result { failure as? ProposalError == error } else { false }
        }
    }

    let loop = NIOAsyncTestingEventLoop()
    let core = Core()

    func reads() -> LinearizableReads {
        LinearizableReads(
            loop: loop, timeout: .milliseconds(500), retryInterval: .milliseconds(200),
            hasLeader: { [core] in core.hasLeader }, askReadIndex: { [core] in core.asked.append($0) })
    }

    /// Runs `body` on the loop with a fresh promise whose outcome is recorded.
    func promise(_ body: @escaping @Sendable (EventLoopPromise<Void>) -> Void) async throws -> Outcome {
        let outcome = Outcome()
        try await loop.executeInContext {
            let promise = loop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { outcome.result = $0 }
            body(promise)
        }
        await loop.run()
        return outcome
    }

    @Test("Reads arriving while a round is unconfirmed share the next; each completes once its index is applied")
    func sharedRounds() async throws {
        let reads = reads()
        let first = try await promise { reads.read($0) }
        let second = try await promise { reads.read($0) }
        let third = try await promise { reads.read($0) }
        #expect(core.asked.count == 1, "one round at a time")
        try await loop.executeInContext { reads.confirm([ReadState(index: 10, requestContext: core.asked[0])], applied: 9) }
        #expect(!first.succeeded, "confirmed at 10, applied only through 9")
        #expect(core.asked.count == 2, "the queued reads start the next round once the first is confirmed")
        try await loop.executeInContext { reads.complete(applied: 10) }
        #expect(first.succeeded && second.result == nil)
        try await loop.executeInContext { reads.confirm([ReadState(index: 12, requestContext: core.asked[1])], applied: 12) }
        #expect(second.succeeded && third.succeeded)
        await loop.shutdownGracefully()
    }

    @Test("An unconfirmed round is asked again at the retry interval, with the same context; its read fails at the timeout")
    func retryAndTimeout() async throws {
        let reads = reads()
        let read = try await promise { reads.read($0) }
        await loop.advanceTime(by: .milliseconds(199))
        try await loop.executeInContext { reads.retryUnconfirmed() }
        #expect(core.asked.count == 1)
        await loop.advanceTime(by: .milliseconds(1))
        try await loop.executeInContext { reads.retryUnconfirmed() }
        #expect(core.asked.count == 2 && core.asked[0] == core.asked[1])
        await loop.advanceTime(by: .milliseconds(299))
        #expect(read.result == nil, "failed before the timeout")
        await loop.advanceTime(by: .milliseconds(1))
        #expect(read.failed(with: .timedOut))
        await loop.shutdownGracefully()
    }

    @Test("Without a leader a read fails at once; a change of leader fails unconfirmed reads and starts the queued")
    func leaderChanges() async throws {
        let reads = reads()
        core.hasLeader = false
        let leaderless = try await promise { reads.read($0) }
        #expect(leaderless.failed(with: .noLeader) && core.asked.isEmpty)
        core.hasLeader = true
        let unconfirmed = try await promise { reads.read($0) }
        let queued = try await promise { reads.read($0) }
        try await loop.executeInContext { reads.failUnconfirmed() }
        #expect(unconfirmed.failed(with: .leaderChanged))
        #expect(queued.result == nil && core.asked.count == 2, "the queued read starts a round under the new leader")
        await loop.shutdownGracefully()
    }

    @Test("A wait for an index completes at once if applied, else when it is, else at the timeout; a stop fails all")
    func waitsAndStop() async throws {
        let reads = reads()
        let applied = try await promise { reads.wait($0, for: 5, applied: 5) }
        #expect(applied.succeeded)
        let later = try await promise { reads.wait($0, for: 7, applied: 5) }
        try await loop.executeInContext { reads.complete(applied: 7) }
        #expect(later.succeeded)
        let late = try await promise { reads.wait($0, for: 9, applied: 7) }
        await loop.advanceTime(by: .milliseconds(500))
        #expect(late.failed(with: .timedOut))
        let waiting = try await promise { reads.wait($0, for: 20, applied: 7) }
        let reading = try await promise { reads.read($0) }
        try await loop.executeInContext { reads.failAll(ProposalError.stopped) }
        #expect(waiting.failed(with: .stopped) && reading.failed(with: .stopped))
        await loop.shutdownGracefully()
    }
}
