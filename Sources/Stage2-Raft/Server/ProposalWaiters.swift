import NIOCore

/// Proposals this member made and waits to see applied, by request number: each is finished
/// once, with what applying it gave, or failed when its deadline passes (checked every tick,
/// not by a timer per proposal: a timer would cost an allocation and a search of the loop's
/// timer heap on every write), when leadership moves, or when the member stops.
///
/// A value confined to the Raft loop, as the server that owns it; `ProposalWaitersTests`
/// drive it with deadlines given by hand.
struct ProposalWaiters {
    typealias Finish = (Result<any Sendable, ProposalError>) -> Void

    private struct Waiter {
        let deadline: NIODeadline
        let finish: Finish
    }

    private var waiting: [UInt64: Waiter] = [:]

    var count: Int { waiting.count }
    var isEmpty: Bool { waiting.isEmpty }

    /// Waits for request `id` until `deadline`.
    mutating func wait(_ id: UInt64, until deadline: NIODeadline, finish: @escaping Finish) {
        waiting[id] = Waiter(deadline: deadline, finish: finish)
    }

    /// Request `id` applied, with `result` (nil: this build could not read it); false if
    /// nobody waits for it (another member's, or given up on).
    @discardableResult
    mutating func finish(_ id: UInt64, with result: (any Sendable)?) -> Bool {
        guard let waiter = waiting.removeValue(forKey: id) else { return false }
        waiter.finish(result.map { .success($0) } ?? .failure(.unreadable))
        return true
    }

    /// Fails those whose deadline is `now` or past with `timedOut`; returns how many.
    mutating func expire(at now: NIODeadline) -> Int {
        let due = waiting.filter { $0.value.deadline <= now }
        for (id, waiter) in due {
            waiting[id] = nil
            waiter.finish(.failure(.timedOut))
        }
        return due.count
    }

    /// Fails every one with `error`; returns how many.
    mutating func failAll(_ error: ProposalError) -> Int {
        let failing = waiting
        waiting = [:]
        for (_, waiter) in failing { waiter.finish(.failure(error)) }
        return failing.count
    }
}
