import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import Raft

/// Questions waiting for a peer's answer, on an event loop whose time the test moves.
@Suite("Questions waiting for answers", .timeLimit(.minutes(1)))
struct PendingAnswersTests {
    struct Late: Error, Equatable {}
    struct Stopped: Error, Equatable {}

    static let answer = PeerFrame.memberAnswer([1, 2, 3])

    /// What `future` came to: its frame, or its error; nil while it has not.
    func outcome(_ future: EventLoopFuture<PeerFrame>) -> Result<PeerFrame, any Error>? {
        let result = Mutex<Result<PeerFrame, any Error>?>(nil)
        future.whenComplete { outcome in result.withLock { $0 = outcome } }
        return result.withLock { $0 }
    }

    @Test("An answer reaches the question under its key, once; an answer nobody waits for is refused")
    func answered() throws {
        let loop = EmbeddedEventLoop()
        let pending = PendingAnswers<UInt64>(loop: loop)
        let first = pending.expect(1, within: .seconds(5)) { Late() }
        let second = pending.expect(2, within: .seconds(5)) { Late() }
        #expect(pending.isWaiting(for: 1) && pending.isWaiting(for: 2))
        #expect(pending.answer(2, with: Self.answer))
        #expect(!pending.answer(2, with: Self.answer), "answered already")
        #expect(!pending.answer(3, with: Self.answer), "never asked")
        #expect(try outcome(second)?.get() == Self.answer)
        #expect(outcome(first) == nil, "the other still waits")
        #expect(!pending.isWaiting(for: 2))
        // Its deadline was called off with the answer: moving past it changes nothing.
        loop.advanceTime(by: .seconds(10))
        #expect(try outcome(second)?.get() == Self.answer)
    }

    @Test("A question without an answer by its deadline fails with the caller's error, and a late answer is refused")
    func late() {
        let loop = EmbeddedEventLoop()
        let pending = PendingAnswers<UInt64>(loop: loop)
        let question = pending.expect(7, within: .seconds(5)) { Late() }
        loop.advanceTime(by: .seconds(4))
        #expect(outcome(question) == nil)
        loop.advanceTime(by: .seconds(1))
        #expect(throws: Late.self) { try outcome(question)?.get() }
        #expect(!pending.answer(7, with: Self.answer))
    }

    @Test("A question can be failed alone (its connection closed), and all at once (the member stops); one asked after a stop fails at once")
    func failed() {
        let loop = EmbeddedEventLoop()
        let pending = PendingAnswers<String>(loop: loop)
        let closed = pending.expect("a", within: .seconds(5)) { Late() }
        let others = [pending.expect("b", within: .seconds(5)) { Late() }, pending.expect("c", within: .seconds(5)) { Late() }]
        pending.fail("a", Stopped())
        #expect(throws: Stopped.self) { try outcome(closed)?.get() }
        pending.failAll(Stopped())
        for other in others { #expect(throws: Stopped.self) { try outcome(other)?.get() } }
        #expect(!pending.isWaiting(for: "b") && !pending.isWaiting(for: "c"))
        // Asked after the stop: the loop may shut down before any deadline would run.
        let afterStop = pending.expect("d", within: .seconds(5)) { Late() }
        #expect(throws: Stopped.self) { try outcome(afterStop)?.get() }
        #expect(!pending.isWaiting(for: "d"))
    }
}
