/// The watchers waiting for the next change under a prefix: pure bookkeeping, no I/O.
///
/// Watchers are one-shot, as in the original: a change of `/a/b` fires and removes every
/// watcher registered at `/`, `/a` and `/a/b`. Each watcher costs one dictionary entry, not a
/// thread, so thousands can wait at once. `Waiter` is whatever the shell needs to answer one
/// (a promise, a continuation).
public struct WatchHub<Waiter: Sendable>: Sendable {
    /// Identifies a watcher so it can be cancelled when its client goes away.
    public typealias WatcherID = UInt64

    // Keyed by bytes (see `ByteString`), so only the very prefix a watcher named matches.
    private var byPrefix: [ByteString: [WatcherID: Waiter]] = [:]
    private var prefixByID: [WatcherID: ByteString] = [:]
    private var nextID: WatcherID = 1

    /// Makes an empty hub.
    public init() {}

    /// How many watchers are waiting.
    public var count: Int { prefixByID.count }

    /// Registers a watcher for the next change at or under `prefix` (a clean key).
    public mutating func add(prefix: String, _ waiter: Waiter) -> WatcherID {
        let id = nextID
        nextID += 1
        byPrefix[ByteString(prefix), default: [:]][id] = waiter
        prefixByID[id] = ByteString(prefix)
        return id
    }

    /// Removes a watcher that has not fired, returning its waiter if it was still there.
    public mutating func remove(_ id: WatcherID) -> Waiter? {
        guard let prefix = prefixByID.removeValue(forKey: id) else { return nil }
        let waiter = byPrefix[prefix]?.removeValue(forKey: id)
        if byPrefix[prefix]?.isEmpty == true { byPrefix[prefix] = nil }
        return waiter
    }

    /// Removes and returns every watcher that a change of `key` fires.
    public mutating func fire(for key: String) -> [Waiter] {
        var fired: [Waiter] = []
        for prefix in KeyPath.ancestorsIncludingSelf(key) {
            guard let waiters = byPrefix.removeValue(forKey: ByteString(prefix)) else { continue }
            for (id, waiter) in waiters {
                prefixByID[id] = nil
                fired.append(waiter)
            }
        }
        return fired
    }

    /// Removes and returns every watcher, e.g. when the store is replaced by a snapshot.
    public mutating func removeAll() -> [Waiter] {
        defer { byPrefix = [:]; prefixByID = [:] }
        return byPrefix.values.flatMap { $0.values }
    }
}
