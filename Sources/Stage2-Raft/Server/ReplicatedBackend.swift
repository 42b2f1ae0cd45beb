import NIOCore
import RaftCore
import SingleNode

/// Stage 1's v1 API on a replicated member: reads and watches from the local store (as in v1,
/// they may be stale on a follower); writes through the Raft log on the leader, redirected
/// there from a follower.
public struct ReplicatedBackend: V1Backend {
    let server: RaftServer

    /// Serves `server`'s store.
    public init(server: RaftServer) { self.server = server }

    public func now() -> Timestamp { server.clock.now() }

    public func read(_ key: String) -> Result<ReadResult, StoreError> { server.machine.read(key) }

    public func write(_ kind: Command.Kind, issuedAt time: Timestamp, on eventLoop: any EventLoop) -> EventLoopFuture<WriteOutcome> {
        let promise = server.loop.makePromise(of: WriteOutcome.self)
        server.loop.execute { server.proposer.proposeV1(kind, issuedAt: time, promise: promise) }
        return promise.futureResult.hop(to: eventLoop)
    }

    public func watch(prefix: String, fromIndex index: UInt64, on eventLoop: any EventLoop) -> PendingWatch {
        server.machine.watch(prefix: prefix, fromIndex: index, on: eventLoop)
    }

    public func cluster() -> ClusterView { server.published.cluster }

    public func stats() -> StoreStats { server.machine.stats }
}
