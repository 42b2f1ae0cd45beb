import NIOCore
import RaftCore

/// Linearizable reads through Raft's ReadIndex (thesis §6.4), batched as etcd's read loop does.
extension RaftServer {
    /// Waits until this member has applied everything committed when the call was made, as
    /// confirmed by a quorum (Raft's ReadIndex): a read after this is linearizable.
    ///
    /// Reads share confirmations, as etcd's read loop does: one ReadIndex is in flight at a
    /// time, and the reads that arrive meanwhile wait for the next, which starts after they
    /// arrived, so it covers every write they could have seen. Sixteen concurrent reads cost
    /// one round of heartbeats rather than sixteen.
    public func linearizableRead() async throws {
        try await startLinearizableRead().get()
    }

    /// `linearizableRead` for callers on an event loop: the future completes on the Raft loop.
    public func startLinearizableRead() -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        loop.execute { self.reads.read(promise) }
        return promise.futureResult
    }
}
