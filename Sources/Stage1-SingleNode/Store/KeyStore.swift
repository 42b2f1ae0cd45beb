import HeapModule

/// The v1 keys store: a file-system-like tree, its watch history and its expiry schedule.
///
/// A pure value: no I/O, no clock, no threads. Writes arrive as `Command`s together with the
/// index of the log entry that carried them (in Stage 1 the server numbers them; in Stage 2 the
/// Raft log does), so the store is the deterministic state machine every replica applies.
///
/// Index rules (v1, §3.3 of the reference): a write answers with its own entry's index; reads
/// answer with `index`, the entry that last touched the store, which moves on every set or
/// delete, successful or not, but not on a failed test-and-set, a no-op or a rejoin.
public struct KeyStore: Sendable {
    // Files and directories by clean path; a path is in at most one of the two. Directories
    // hold their children's names (last segments), are made implicitly by writes beneath them
    // and never removed, as in the original. "/" is always a directory.
    // Keyed by bytes, not by Unicode equivalence (see `ByteString`).
    var files: [ByteString: FileNode] = [:]
    var directories: [ByteString: Set<ByteString>] = [ByteString("/"): []]
    // How many files have a TTL: when the expiry queue holds many times more entries (stale
    // ones left by refreshes), it is rebuilt, so it cannot grow without bound.
    var filesWithTTL = 0
    // Min-heap of (expiration, key); entries go stale when a key is re-set or deleted and are
    // skipped lazily, checked against `files`.
    var expiryQueue = Heap<ExpiryItem>()

    /// The index of the last entry that touched the store; what reads report.
    public internal(set) var index: UInt64 = 0
    /// The last `historyCapacity` successful changes, for watches from an index.
    public internal(set) var history: EventHistory
    /// Operation counters.
    public var stats = StoreStats()

    /// Makes an empty store that remembers the last `historyCapacity` changes (the `-m` flag).
    public init(historyCapacity: Int = 1024) {
        history = EventHistory(capacity: historyCapacity)
    }

    /// Checks what can be refused before a command is given an index: a client may not write
    /// or delete under a reserved prefix such as `/_etcd` (the original checked only writes).
    public static func validate(_ kind: Command.Kind) -> StoreError? {
        switch kind {
        case .set(let key, _, _), .testAndSet(let key, _, _, _):
            return KeyPath.isReserved(key) ? StoreError(.keywordPrefix, cause: "Set") : nil
        case .delete(let key):
            return KeyPath.isReserved(key) ? StoreError(.keywordPrefix, cause: "Delete") : nil
        case .expire, .join, .publish, .leave, .nop:
            return nil
        }
    }

    /// Applies a command carried by log entry `entryIndex`, returning what the client is told.
    ///
    /// `entryIndex` must grow from call to call. A successful change is recorded in the history
    /// and returned; the caller notifies watchers with it.
    public mutating func apply(_ command: Command, at entryIndex: UInt64) -> Result<V1Response, StoreError> {
        if let error = Self.validate(command.kind) { return .failure(error) }
        let result: Result<V1Response, StoreError>
        switch command.kind {
        case .set(let key, let value, let expiration):
            result = set(KeyPath.clean(key), value: value, expiration: expiration, issuedAt: command.time, at: entryIndex)
        case .testAndSet(let key, let prevValue, let value, let expiration):
            stats.testAndSets += 1
            result = testAndSet(
                KeyPath.clean(key), prevValue: prevValue, value: value, expiration: expiration, issuedAt: command.time,
                at: entryIndex)
        case .delete(let key):
            stats.deletes += 1
            result = delete(KeyPath.clean(key), at: entryIndex)
        case .expire(let key, let expiration):
            result = expire(KeyPath.clean(key), expiration: expiration, at: entryIndex)
        case .join(let name, let raftURL, let etcdURL):
            result = join(name: name, raftURL: raftURL, etcdURL: etcdURL, issuedAt: command.time, at: entryIndex)
        case .publish(let name, let raftURL, let etcdURL):
            result = set(Self.machineKey(name), value: "raft=\(raftURL)&etcd=\(etcdURL)", expiration: nil, issuedAt: command.time, at: entryIndex)
        case .leave(let name):
            result = delete(Self.machineKey(name), at: entryIndex)
        case .nop:
            result = .failure(StoreError(.raftInternal, cause: "nop"))
        }
        if case .success(let event) = result, event.action != .get { history.append(event) }
        return result
    }

    /// Reads a file, or lists a directory's immediate children sorted by key.
    public func read(_ key: String) -> Result<ReadResult, StoreError> {
        let key = KeyPath.clean(key)
        if let file = files[ByteString(key)] {
            return .success(.file(V1Response(action: .get, key: key, value: file.value, expiration: file.expiration, index: index)))
        }
        guard let children = directories[ByteString(key)] else { return .failure(StoreError(.keyNotFound, cause: key)) }
        let base = key == "/" ? "" : key
        // Sorted by bytes, as Go's sort.Strings orders them.
        let listing = children.sorted().map { name -> V1Response in
            let childKey = base + "/" + name.string
            guard let file = files[ByteString(childKey)] else {
                return V1Response(action: .get, key: childKey, isDirectory: true, index: index)
            }
            return V1Response(action: .get, key: childKey, value: file.value, expiration: file.expiration, index: index)
        }
        return .success(.directory(listing))
    }

    /// The earliest expiration of any key, if one has a TTL.
    public mutating func nextExpiration() -> Timestamp? {
        dropStaleExpiries()
        return expiryQueue.min?.expiration
    }

    /// The keys whose TTL has run out at `now`, with the expiration each was set with, in
    /// expiry order. The authority turns each into an `expire` command.
    public mutating func dueExpirations(at now: Timestamp) -> [(key: String, expiration: Timestamp)] {
        dropStaleExpiries()
        var due: [(key: String, expiration: Timestamp)] = []
        var pending = expiryQueue
        while let next = pending.min, next.expiration <= now {
            _ = pending.removeMin()
            if files[ByteString(next.key)]?.expiration == next.expiration { due.append((next.key, next.expiration)) }
        }
        return due
    }

    private mutating func dropStaleExpiries() {
        while let next = expiryQueue.min {
            if files[ByteString(next.key)]?.expiration == next.expiration { return }
            _ = expiryQueue.removeMin()
        }
    }
}

/// A key's place in the expiry schedule.
struct ExpiryItem: Comparable, Sendable {
    var expiration: Timestamp
    var key: String

    static func < (lhs: ExpiryItem, rhs: ExpiryItem) -> Bool {
        lhs.expiration != rhs.expiration ? lhs.expiration < rhs.expiration : ByteString(lhs.key) < ByteString(rhs.key)
    }

    static func == (lhs: ExpiryItem, rhs: ExpiryItem) -> Bool {
        lhs.expiration == rhs.expiration && lhs.key.isByteEqual(to: rhs.key)
    }
}

extension KeyStore: Equatable {
    /// Two stores are equal when they hold the same tree, index, history and counters: what
    /// replicas that applied the same log must agree on. The expiry queue is derived from the
    /// files, and stale entries in it are not state.
    public static func == (lhs: KeyStore, rhs: KeyStore) -> Bool {
        lhs.files == rhs.files && lhs.directories == rhs.directories && lhs.index == rhs.index
            && lhs.history == rhs.history && lhs.stats == rhs.stats
    }
}
