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

    /// Request `id` applied: its waiter, removed, to finish with what applying it gave (nil if
    /// nobody waits for it: another member's, or given up on). Finishing is the caller's, after
    /// this returns, so that whatever a finish runs may touch the table again.
    mutating func take(_ id: UInt64) -> Finish? {
        waiting.removeValue(forKey: id)?.finish
    }

    /// Those whose deadline is `now` or past, removed, to fail with `timedOut`.
    mutating func takeExpired(at now: NIODeadline) -> [Finish] {
        let due = waiting.filter { $0.value.deadline <= now }
        for id in due.keys { waiting[id] = nil }
        return due.values.map(\.finish)
    }

    /// Every one, removed (a change of leader, a stop).
    mutating func takeAll() -> [Finish] {
        defer { waiting = [:] }
        return waiting.values.map(\.finish)
    }
}
