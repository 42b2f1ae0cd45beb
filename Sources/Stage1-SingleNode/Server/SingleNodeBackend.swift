import Logging
import NIOCore
import Synchronization

/// Stage 1's machine: one in-memory `KeyStore`, numbered and timed by this node alone.
///
/// It plays the part Raft plays later: it gives every command the next index, issues the
/// expiry commands (the single authority on TTLs), and wakes watchers after each change. The
/// store and the watch hub sit behind one lock, held only for in-memory work.
public final class SingleNodeBackend: V1Backend {
    typealias Waiter = EventLoopPromise<Result<V1Response, StoreError>>

    private struct State: ~Copyable {
        var store: KeyStore
        var hub = WatchHub<Waiter>()
        // The index the next command gets.
        var nextIndex: UInt64 = 1
    }

    private enum WatchStart {
        case answered(Result<V1Response, StoreError>)
        case waiting(WatchHub<Waiter>.WatcherID)
    }

    private let state: Mutex<State>
    private let clock: any WallClock
    private let logger: Logger
    private let identity: Mutex<(peerURL: String, clientURL: String)?> = Mutex(nil)

    /// Makes an empty machine that keeps `historyCapacity` events for watches from an index.
    public init(clock: any WallClock, historyCapacity: Int = 1024, logger: Logger = Logger(label: "etcd")) {
        self.clock = clock
        self.logger = logger
        self.state = Mutex(State(store: KeyStore(historyCapacity: historyCapacity)))
    }

    /// Registers this machine as the original did on first start: its join is entry 1 and a
    /// leader's no-op is entry 2, so the first client write gets index 3.
    public func bootstrap(name: String, peerURL: String, clientURL: String) {
        identity.withLock { $0 = (peerURL, clientURL) }
        _ = apply(Command(.join(name: name, raftURL: peerURL, etcdURL: clientURL), time: clock.now()))
        _ = apply(Command(.nop, time: clock.now()))
    }

    /// Applies a command at the next index and wakes the watchers it fires.
    @discardableResult
    public func apply(_ command: Command) -> Result<V1Response, StoreError> {
        let (result, fired) = state.withLock { Self.apply(command, to: &$0) }
        if case .success(let event) = result {
            for waiter in fired { waiter.succeed(.success(event)) }
        }
        return result
    }

    private static func apply(_ command: Command, to state: inout State) -> (Result<V1Response, StoreError>, [Waiter]) {
        let index = state.nextIndex
        state.nextIndex += 1
        let result = state.store.apply(command, at: index)
        guard case .success(let event) = result, event.action != .get else { return (result, []) }
        return (result, state.hub.fire(for: event.key))
    }

    /// Expires every key whose TTL has run out by now, one `expire` command each; returns how
    /// many were removed. The server calls this on a short timer; tests call it after moving a
    /// manual clock. Finding and applying happen under one lock, so a set cannot slip between
    /// and turn an expiry into a wasted index.
    @discardableResult
    public func expireDueKeys() -> Int {
        let now = clock.now()
        let expired = state.withLock { state -> [(V1Response, [Waiter])] in
            state.store.dueExpirations(at: now).compactMap { key, expiration in
                let (result, fired) = Self.apply(Command(.expire(key: key, expiration: expiration), time: now), to: &state)
                guard case .success(let event) = result else { return nil }
                return (event, fired)
            }
        }
        for (event, waiters) in expired {
            for waiter in waiters { waiter.succeed(.success(event)) }
        }
        return expired.count
    }

    /// How many watchers are waiting.
    public var watcherCount: Int { state.withLock { $0.hub.count } }

    // MARK: V1Backend

    public func now() -> Timestamp { clock.now() }

    public func read(_ key: String) -> Result<ReadResult, StoreError> {
        state.withLock { state in
            state.store.stats.gets += 1
            return state.store.read(key)
        }
    }

    public func write(_ kind: Command.Kind, issuedAt time: Timestamp, on eventLoop: any EventLoop)
        -> EventLoopFuture<WriteOutcome>
    {
        eventLoop.makeSucceededFuture(.completed(apply(Command(kind, time: time))))
    }

    public func watch(prefix: String, fromIndex index: UInt64, on eventLoop: any EventLoop) -> PendingWatch {
        let promise = eventLoop.makePromise(of: Result<V1Response, StoreError>.self)
        // Checking the history and registering happen under one lock, so no change can slip
        // between them.
        let start = state.withLock { state -> WatchStart in
            if index > 0 {
                switch state.store.history.firstEvent(from: index, under: prefix) {
                case .success(let event?): return .answered(.success(event))
                case .failure(let error): return .answered(.failure(error))
                case .success(nil): break
                }
            }
            return .waiting(state.hub.add(prefix: prefix, promise))
        }
        switch start {
        case .answered(let answer):
            promise.succeed(answer)
            return PendingWatch(result: promise.futureResult, cancel: {})
        case .waiting(let id):
            logger.debug("watcher waiting", metadata: ["prefix": "\(prefix)", "from-index": "\(index)"])
            return PendingWatch(result: promise.futureResult) { [weak self] in
                let waiter = self?.state.withLock { $0.hub.remove(id) }
                waiter?.fail(ChannelError.ioOnClosedChannel)
            }
        }
    }

    public func cluster() -> ClusterView {
        guard let identity = identity.withLock({ $0 }) else { return ClusterView(clientURLs: [], leaderPeerURL: nil) }
        return ClusterView(clientURLs: [identity.clientURL], leaderPeerURL: identity.peerURL)
    }

    public func stats() -> StoreStats { state.withLock { $0.store.stats } }
}
