import NIOCore

/// Questions this member asked peers, waiting for their answers: each answered once, or failed
/// at its deadline, or when the member stops. Keyed by what the answer comes back with: the
/// connection a question went on alone (a join, a membership change, a question for one member),
/// or a number (a question for the leader on the connection Raft messages share).
///
/// `@unchecked Sendable` for the same reason as `RaftServer`: touched only on the Raft loop.
final class PendingAnswers<Key: Hashable>: @unchecked Sendable {
    private let loop: any EventLoop
    private var waiting: [Key: (promise: EventLoopPromise<PeerFrame>, deadline: Scheduled<Void>)] = [:]
    // Set by `failAll` (the member stops): a question asked after it fails at once, since the
    // loop may shut down before its deadline would run.
    private var closed: (any Error)?

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// The answer that comes under `key`; after `timeout` without one, `late()` instead.
    func expect(_ key: Key, within timeout: TimeAmount, late: @escaping @Sendable () -> any Error) -> EventLoopFuture<PeerFrame> {
        if let closed { return loop.makeFailedFuture(closed) }
        precondition(waiting[key] == nil, "a second question under one key")
        let promise = loop.makePromise(of: PeerFrame.self)
        let deadline = loop.assumeIsolated().scheduleTask(in: timeout) { [weak self] () -> Void in self?.fail(key, late()) }
        waiting[key] = (promise, deadline)
        return promise.futureResult
    }

    /// Whether an answer is awaited under `key`.
    func isWaiting(for key: Key) -> Bool { waiting[key] != nil }

    /// Hands `frame` to the question waiting under `key`; false if none was (it timed out, or
    /// was never asked).
    @discardableResult
    func answer(_ key: Key, with frame: PeerFrame) -> Bool {
        guard let question = waiting.removeValue(forKey: key) else { return false }
        question.deadline.cancel()
        question.promise.succeed(frame)
        return true
    }

    /// The question under `key`, if any, gets `error` (its connection closed, say).
    func fail(_ key: Key, _ error: any Error) {
        guard let question = waiting.removeValue(forKey: key) else { return }
        question.deadline.cancel()
        question.promise.fail(error)
    }

    /// Every question gets `error`, and so does any asked from now on: the member stops.
    func failAll(_ error: any Error) {
        closed = error
        let all = waiting
        waiting = [:]
        for (_, question) in all {
            question.deadline.cancel()
            question.promise.fail(error)
        }
    }
}
