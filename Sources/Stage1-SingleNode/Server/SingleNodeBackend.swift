import Logging
import NIOCore
import Synchronization

/// Stage 1's machine: one in-memory store, numbered and timed by this node alone.
///
/// It plays the part Raft plays later: every command takes the next index, and this node is the
/// single authority on TTLs, applying an expiry command when one runs out.
public final class SingleNodeBackend: V1Backend {
    /// The store and its watchers.
    public let machine: StoreMachine
    private let clock: any WallClock
    private let identity: Mutex<(peerURL: String, clientURL: String)?> = Mutex(nil)

    /// Makes an empty machine that keeps `historyCapacity` events for watches from an index.
    public init(clock: any WallClock, historyCapacity: Int = 1024, logger: Logger = Logger(label: "etcd")) {
        self.clock = clock
        self.machine = StoreMachine(historyCapacity: historyCapacity, logger: logger)
    }

    /// Registers this machine as the original did on first start: its join is entry 1 and a
    /// leader's no-op is entry 2, so the first client write gets index 3.
    public func bootstrap(name: String, peerURL: String, clientURL: String) {
        identity.withLock { $0 = (peerURL, clientURL) }
        machine.apply(Command(.join(name: name, raftURL: peerURL, etcdURL: clientURL), time: clock.now()))
        machine.skip(to: 2)
    }

    /// Applies a command at the next index and wakes the watchers it fires.
    @discardableResult
    public func apply(_ command: Command) -> Result<V1Response, StoreError> { machine.apply(command) }

    /// Expires every key whose TTL has run out by now; returns how many were removed. The
    /// server calls this on a short timer; tests call it after moving a manual clock.
    @discardableResult
    public func expireDueKeys() -> Int { machine.expireDueKeys(at: clock.now()) }

    /// How many watchers are waiting.
    public var watcherCount: Int { machine.watcherCount }

    // MARK: V1Backend

    public func now() -> Timestamp { clock.now() }

    public func read(_ key: String) -> Result<ReadResult, StoreError> { machine.read(key) }

    public func write(_ kind: Command.Kind, issuedAt time: Timestamp, on eventLoop: any EventLoop)
        -> EventLoopFuture<WriteOutcome>
    {
        eventLoop.makeSucceededFuture(.completed(machine.apply(Command(kind, time: time))))
    }

    public func watch(prefix: String, fromIndex index: UInt64, on eventLoop: any EventLoop) -> PendingWatch {
        machine.watch(prefix: prefix, fromIndex: index, on: eventLoop)
    }

    public func cluster() -> ClusterView {
        guard let identity = identity.withLock({ $0 }) else { return ClusterView(clientURLs: [], leaderPeerURL: nil) }
        return ClusterView(clientURLs: [identity.clientURL], leaderPeerURL: identity.peerURL)
    }

    public func stats() -> StoreStats { machine.stats }
}
