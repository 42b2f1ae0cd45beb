import NIOCore
import RaftCore

/// Linearizable reads through Raft's ReadIndex (thesis §6.4) on one member, and waits for an
/// index to be applied: `ReadIndexQueue`'s bookkeeping carried out on the Raft loop, with the
/// timers it needs. Its surroundings are parameters: whether a leader is known, how to ask the
/// core for a ReadIndex, and the member's applied index, given with each event.
///
/// `@unchecked Sendable` for the same reason as `RaftServer`: confined to the Raft loop, as the
/// server that owns it; its timers come back to that loop.
final class LinearizableReads: @unchecked Sendable {
    private let loop: any EventLoop
    private let timeout: TimeAmount
    private let retryInterval: TimeAmount
    private let hasLeader: () -> Bool
    private let askReadIndex: (_ context: [UInt8]) -> Void
    private var queue = ReadIndexQueue<EventLoopPromise<Void>>()
    private var timeouts: [UInt64: Scheduled<Void>] = [:]

    /// Each read fails after `timeout`; one unconfirmed for `retryInterval` is asked again.
    init(
        loop: any EventLoop, timeout: TimeAmount, retryInterval: TimeAmount, hasLeader: @escaping () -> Bool,
        askReadIndex: @escaping (_ context: [UInt8]) -> Void
    ) {
        self.loop = loop
        self.timeout = timeout
        self.retryInterval = retryInterval
        self.hasLeader = hasLeader
        self.askReadIndex = askReadIndex
    }

    /// How many ReadIndex rounds and waits were started, for tests.
    var contextsIssued: UInt64 { queue.contextsIssued }
    /// Whether anything waits for an index to be applied.
    var hasWaiting: Bool { !queue.requests.isEmpty }

    /// A read: `promise` completes once this member has applied what a quorum confirmed was
    /// committed after the read arrived.
    func read(_ promise: EventLoopPromise<Void>) {
        guard hasLeader() else { return promise.fail(ProposalError.noLeader) }
        queue.enqueue(promise)
        issueQueued()
    }

    /// `promise` completes once `index` is applied (now, if it is), or fails at the timeout.
    func wait(_ promise: EventLoopPromise<Void>, for index: UInt64, applied: UInt64) {
        guard applied < index else { return promise.succeed(()) }
        let context = queue.wait(promise, for: index)
        timeouts[context] = loop.scheduleTask(in: timeout) { [weak self] () -> Void in
            self?.timeouts[context] = nil
            for waiter in self?.queue.takeTimedOut(context) ?? [] { waiter.fail(ProposalError.timedOut) }
        }
    }

    /// Starts one ReadIndex for every queued read, unless one is already unconfirmed.
    private func issueQueued() {
        guard queue.unconfirmed == nil, !queue.queued.isEmpty else { return }
        guard hasLeader() else {
            for promise in queue.takeQueued() { promise.fail(ProposalError.noLeader) }
            return
        }
        guard let context = queue.startNext(at: loop.now) else { return }
        askReadIndex(ReadIndexQueue<EventLoopPromise<Void>>.bytes(context))
        timeouts[context] = loop.scheduleTask(in: timeout) { [weak self] () -> Void in
            guard let self else { return }
            self.timeouts[context] = nil
            guard let waiters = self.queue.takeTimedOut(context) else { return }
            for promise in waiters { promise.fail(ProposalError.timedOut) }
            self.issueQueued()
        }
    }

    /// Every tick: asks again for a ReadIndex unconfirmed for the retry interval (same
    /// context, so whichever answer comes first confirms it), as etcd's read loop does.
    func retryUnconfirmed() {
        guard hasLeader(), let context = queue.retry(at: loop.now, after: retryInterval) else { return }
        askReadIndex(ReadIndexQueue<EventLoopPromise<Void>>.bytes(context))
    }

    /// The core confirmed ReadIndex rounds: their reads complete once `applied` reaches them.
    func confirm(_ states: [ReadState], applied: UInt64) {
        for state in states {
            guard let context = ReadIndexQueue<EventLoopPromise<Void>>.context(state.requestContext) else { continue }
            queue.confirm(context, index: state.index)
        }
        complete(applied: applied)
        issueQueued()
    }

    /// The member applied through `applied`: the reads and waits that needed it complete.
    func complete(applied: UInt64) {
        for (context, waiters) in queue.takeApplied(through: applied) {
            timeouts.removeValue(forKey: context)?.cancel()
            for promise in waiters { promise.succeed(()) }
        }
    }

    /// Leadership moved: reads not yet confirmed may never be (the old leader is gone), so
    /// their callers hear so now rather than at the timeout; those queued start under the new
    /// leader, if there is one.
    func failUnconfirmed() {
        for (context, waiters) in queue.takeUnconfirmed() {
            timeouts.removeValue(forKey: context)?.cancel()
            for promise in waiters { promise.fail(ProposalError.leaderChanged) }
        }
        issueQueued()
    }

    /// The member stops: everything waiting fails with `error`.
    func failAll(_ error: any Error) {
        for (_, timeout) in timeouts { timeout.cancel() }
        timeouts = [:]
        for promise in queue.takeAll() { promise.fail(error) }
    }
}
