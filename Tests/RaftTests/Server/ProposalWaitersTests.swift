import NIOCore
import Testing

@testable import Raft

/// The proposals a member waits on, with deadlines given by hand.
@Suite("Proposals waiting to be applied")
struct ProposalWaitersTests {
    /// Records how each waiter finished.
    final class Outcomes: @unchecked Sendable {
        var results: [UInt64: Result<Int, ProposalError>] = [:]
        func finish(_ id: UInt64) -> ProposalWaiters.Finish {
            { result in self.results[id] = result.map { $0 as! Int } }
        }
    }

    static func at(_ milliseconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(milliseconds) * 1_000_000) }

    @Test("An applied request's waiter is taken once; one nobody waits for is nil")
    func take() {
        var waiters = ProposalWaiters()
        let outcomes = Outcomes()
        waiters.wait(1, until: Self.at(100), finish: outcomes.finish(1))
        let first = waiters.take(1)
        let again = waiters.take(1)
        let stranger = waiters.take(9)
        #expect(first != nil && again == nil && stranger == nil)
        first?(.success(42))
        #expect(outcomes.results[1] == .success(42))
        #expect(waiters.isEmpty)
    }

    @Test("Only those whose deadline has come are taken as expired, at the deadline and not before")
    func expire() {
        var waiters = ProposalWaiters()
        let outcomes = Outcomes()
        waiters.wait(1, until: Self.at(100), finish: outcomes.finish(1))
        waiters.wait(2, until: Self.at(200), finish: outcomes.finish(2))
        let early = waiters.takeExpired(at: Self.at(99))
        let due = waiters.takeExpired(at: Self.at(100))
        #expect(early.isEmpty && due.count == 1)
        for finish in due { finish(.failure(.timedOut)) }
        #expect(outcomes.results[1] == .failure(.timedOut))
        #expect(outcomes.results[2] == nil)
        #expect(waiters.count == 1)
        let second = waiters.take(2)
        #expect(second != nil)
    }

    @Test("A change of leader or a stop takes every waiter")
    func takeAll() {
        var waiters = ProposalWaiters()
        let outcomes = Outcomes()
        for id in 1...3 { waiters.wait(UInt64(id), until: Self.at(100), finish: outcomes.finish(UInt64(id))) }
        let all = waiters.takeAll()
        let none = waiters.takeAll()
        #expect(all.count == 3 && none.isEmpty && waiters.isEmpty)
    }

    @Test("A finish may touch the table again: the server finishes after taking")
    func reentrantFinish() {
        final class Box: @unchecked Sendable { var waiters = ProposalWaiters() }
        let box = Box()
        let outcomes = Outcomes()
        box.waiters.wait(1, until: Self.at(100)) { _ in
            // What a caller told of a failure might do at once: propose again.
            box.waiters.wait(2, until: Self.at(200), finish: outcomes.finish(2))
        }
        for finish in box.waiters.takeAll() { finish(.failure(.leaderChanged)) }
        #expect(box.waiters.count == 1)
    }
}
