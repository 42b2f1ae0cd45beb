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

    @Test("An applied request finishes its waiter once, with the result; one nobody waits for is ignored")
    func finish() {
        var waiters = ProposalWaiters()
        let outcomes = Outcomes()
        waiters.wait(1, until: Self.at(100), finish: outcomes.finish(1))
        let first = waiters.finish(1, with: 42)
        let again = waiters.finish(1, with: 43)
        let stranger = waiters.finish(9, with: 1)
        #expect(first && !again && !stranger)
        #expect(outcomes.results[1] == .success(42))
        #expect(waiters.isEmpty)
    }

    @Test("A result this build cannot read fails its waiter as unreadable")
    func unreadable() {
        var waiters = ProposalWaiters()
        let outcomes = Outcomes()
        waiters.wait(1, until: Self.at(100), finish: outcomes.finish(1))
        waiters.finish(1, with: nil)
        #expect(outcomes.results[1] == .failure(.unreadable))
    }

    @Test("Only those whose deadline has come time out, at the deadline and not before")
    func expire() {
        var waiters = ProposalWaiters()
        let outcomes = Outcomes()
        waiters.wait(1, until: Self.at(100), finish: outcomes.finish(1))
        waiters.wait(2, until: Self.at(200), finish: outcomes.finish(2))
        let early = waiters.expire(at: Self.at(99))
        let due = waiters.expire(at: Self.at(100))
        #expect(early == 0 && due == 1)
        #expect(outcomes.results[1] == .failure(.timedOut))
        #expect(outcomes.results[2] == nil)
        #expect(waiters.count == 1)
        let second = waiters.finish(2, with: 7)
        #expect(second && outcomes.results[2] == .success(7))
    }

    @Test("A change of leader or a stop fails every waiter with its reason")
    func failAll() {
        var waiters = ProposalWaiters()
        let outcomes = Outcomes()
        for id in 1...3 { waiters.wait(UInt64(id), until: Self.at(100), finish: outcomes.finish(UInt64(id))) }
        let failed = waiters.failAll(.leaderChanged)
        let none = waiters.failAll(.stopped)
        #expect(failed == 3 && none == 0)
        #expect(outcomes.results.values.allSatisfy { $0 == .failure(.leaderChanged) } && outcomes.results.count == 3)
    }
}
