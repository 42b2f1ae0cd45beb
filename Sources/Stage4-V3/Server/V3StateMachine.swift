import EtcdAPI
import Raft
import Synchronization

/// The v3 store as Stage 2's log state machine: the Raft loop applies committed v3 writes here,
/// in log order, and gRPC handlers read it. One lock guards the store and the watchers, so a
/// watcher registered at revision R sees exactly the changes after R, none twice, none lost.
public final class V3StateMachine: LogStateMachine {
    let state = Mutex(State())

    struct State {
        var store = MVCCStore()
        var watchers = WatcherSet()
    }

    public init() {}

    public func apply(_ payload: [UInt8], index: UInt64) -> any Sendable {
        let request: V3Request
        do {
            request = try V3Request(encoded: payload)
        } catch {
            return Result<MVCCStore.Applied, V3Error>.failure(V3Error(code: .invalidArgument, message: "\(error)"))
        }
        return state.withLock { state in
            let result = state.store.apply(request)
            if case .success(let applied) = result, !applied.events.isEmpty {
                state.watchers.deliver(applied.events, revision: applied.revision)
            }
            return result
        }
    }

    public func snapshotData() -> [UInt8] {
        state.withLock { $0.store.encoded() }
    }

    public func restore(from data: [UInt8]) throws {
        let store = try MVCCStore(encoded: data)
        state.withLock { state in
            state.store = store
            // Watchers cannot follow a jump: end them, as etcd does, and let clients resume
            // from the revision they last saw.
            state.watchers.cancelAll(reason: "the member restored a snapshot; watch again from the last revision seen", revision: store.revision)
        }
    }

    public func leadershipChanged(isLeader: Bool) {}

    /// How registering a watcher went.
    enum WatchStart {
        /// Registered; `token` removes it. Changes from the start revision on were already sent.
        case started(token: UInt64)
        /// The start revision was compacted away; the watcher was not registered.
        case compacted(compactRevision: Int64)
    }

    /// Registers `watcher` from `startRevision` (0: from the next change): first replays the
    /// stored changes from there, then sends each new one, atomically with respect to writes.
    func watch(_ watcher: WatcherSet.Watcher, from startRevision: Int64) -> (WatchStart, revision: Int64) {
        state.withLock { state in
            let store = state.store
            let revision = store.revision
            if startRevision > 0 && startRevision < store.compactRevision {
                return (.compacted(compactRevision: store.compactRevision), revision)
            }
            if startRevision > 0 && startRevision <= store.revision {
                let replay = store.changes(watcher.key, watcher.end, after: startRevision - 1).filter(watcher.wants).map(watcher.shaped)
                var batch: [MVCCStore.Event] = []
                for event in replay {
                    if let last = batch.last, last.kv.modRevision != event.kv.modRevision {
                        watcher.send(.events(batch, revision: last.kv.modRevision))
                        batch = []
                    }
                    batch.append(event)
                }
                if let last = batch.last { watcher.send(.events(batch, revision: last.kv.modRevision)) }
            }
            return (.started(token: state.watchers.add(watcher)), revision)
        }
    }

    func unwatch(_ token: UInt64) {
        state.withLock { $0.watchers.remove(token) }
    }

    /// Runs `body` with the store as it is now.
    public func read<T>(_ body: (MVCCStore) throws -> T) rethrows -> T {
        try state.withLock { try body($0.store) }
    }
}
