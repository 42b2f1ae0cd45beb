import Logging
import NIOCore
import Synchronization

/// The keys store and its watchers, shared by whoever applies commands (this stage's backend,
/// or Stage 2's Raft loop) and the HTTP handlers that read and watch. One lock, held only for
/// in-memory work; watchers are woken after it is released.
///
/// `appliedIndex` is the position in the log of commands: Stage 1's backend is the whole log
/// (`apply(_:)` takes the next index), Stage 2 hands in each Raft entry's index.
public final class StoreMachine: Sendable {
    typealias Waiter = EventLoopPromise<Result<V1Response, StoreError>>

    private struct State: ~Copyable {
        var store: KeyStore
        var hub = WatchHub<Waiter>()
        var appliedIndex: UInt64 = 0
    }

    private enum WatchStart {
        case answered(Result<V1Response, StoreError>)
        case waiting(WatchHub<Waiter>.WatcherID)
    }

    private let state: Mutex<State>
    private let logger: Logger

    /// Makes an empty store that keeps `historyCapacity` events for watches from an index.
    public init(historyCapacity: Int = 1024, logger: Logger = Logger(label: "etcd")) {
        self.state = Mutex(State(store: KeyStore(historyCapacity: historyCapacity)))
        self.logger = logger
    }

    /// The index of the last command applied (or skipped).
    public var appliedIndex: UInt64 { state.withLock { $0.appliedIndex } }

    /// Applies a command carried by log entry `index` (nil: the next one) and wakes the
    /// watchers it fires.
    @discardableResult
    public func apply(_ command: Command, at index: UInt64? = nil) -> Result<V1Response, StoreError> {
        let (result, fired) = state.withLock { Self.apply(command, at: index, to: &$0) }
        if case .success(let event) = result {
            for waiter in fired { waiter.succeed(.success(event)) }
        }
        return result
    }

    /// Records that entry `index` carried nothing for the store (a new leader's empty entry).
    public func skip(to index: UInt64) {
        state.withLock { $0.appliedIndex = max($0.appliedIndex, index) }
    }

    private static func apply(_ command: Command, at index: UInt64?, to state: inout State) -> (Result<V1Response, StoreError>, [Waiter]) {
        let index = index ?? state.appliedIndex + 1
        state.appliedIndex = max(state.appliedIndex, index)
        let result = state.store.apply(command, at: index)
        guard case .success(let event) = result, event.action != .get else { return (result, []) }
        return (result, state.hub.fire(for: event.key))
    }

    /// As the single authority on TTLs (Stage 1), expires every key due at `now`, each at the
    /// next index; finding and applying happen under one lock, so no set slips between.
    @discardableResult
    public func expireDueKeys(at now: Timestamp) -> Int {
        let expired = state.withLock { state -> [(V1Response, [Waiter])] in
            state.store.dueExpirations(at: now).compactMap { key, expiration in
                let (result, fired) = Self.apply(Command(.expire(key: key, expiration: expiration), time: now), at: nil, to: &state)
                guard case .success(let event) = result else { return nil }
                return (event, fired)
            }
        }
        for (event, waiters) in expired {
            for waiter in waiters { waiter.succeed(.success(event)) }
        }
        return expired.count
    }

    /// The keys whose TTL has run out at `now`: what a Raft leader proposes to expire.
    public func dueExpirations(at now: Timestamp) -> [(key: String, expiration: Timestamp)] {
        state.withLock { $0.store.dueExpirations(at: now) }
    }

    /// Reads a key or lists a directory, counting a get.
    public func read(_ key: String) -> Result<ReadResult, StoreError> {
        state.withLock { state in
            state.store.stats.gets += 1
            return state.store.read(key)
        }
    }

    /// Waits for the first change at or under `prefix` from `index` on (0: the next change).
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

    /// How many watchers are waiting.
    public var watcherCount: Int { state.withLock { $0.hub.count } }

    /// The store counters.
    public var stats: StoreStats { state.withLock { $0.store.stats } }

    /// The machines registered under `/_etcd/machines`, by name.
    public func machines() -> [(name: String, value: String)] { state.withLock { $0.store.machines() } }

    /// A copy of the whole store, for a snapshot.
    public func copyStore() -> (store: KeyStore, appliedIndex: UInt64) { state.withLock { ($0.store, $0.appliedIndex) } }

    /// Replaces the store with one from a snapshot. Pending watchers are released with error
    /// 500, as the original did when it recovered from a snapshot.
    public func replace(with store: KeyStore, appliedIndex: UInt64) {
        let released = state.withLock { state -> [Waiter] in
            state.store = store
            state.appliedIndex = appliedIndex
            return state.hub.removeAll()
        }
        for waiter in released { waiter.succeed(.failure(StoreError(.watcherCleared))) }
    }
}
