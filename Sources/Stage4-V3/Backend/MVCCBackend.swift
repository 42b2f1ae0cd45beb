/// Where the store's revisions are kept, as etcd splits its MVCC store: the key index (which
/// revisions each key has) stays in memory in `MVCCStore`, and the revisions themselves (every
/// KeyValue ever written and not yet compacted), the leases, the alarms and the store's own
/// counters live in a backend. `MemoryBackend` keeps them in a dictionary (tests, and a store
/// a learner can read in one sitting); `SQLiteBackend` keeps them in a file, as etcd's bbolt
/// does, so the store's size is bounded by the disk and not the memory.
///
/// Writes go into an open batch that `commit` makes durable together with the index of the
/// last log entry applied (etcd's consistent index): the file may trail the log, and a restart
/// replays the log from there.
public protocol MVCCBackend: Sendable {
    /// Records one change; returns the row that now holds it (rows grow with revisions).
    mutating func insert(_ change: BackendChange) -> Int64
    /// The value a row holds (empty for a tombstone).
    func value(_ row: Int64) -> [UInt8]
    /// Forgets rows compaction left behind (a backend may do it in batches, later).
    mutating func remove(_ rows: [Int64])
    mutating func saveLease(_ id: Int64, ttl: Int64)
    mutating func removeLease(_ id: Int64)
    mutating func saveAlarms(_ alarms: [MVCCStore.Alarm])
    /// Replaces the auth store's saved state (`AuthStore.encoded`).
    mutating func saveAuth(_ state: [UInt8])
    /// Makes every change so far durable, with the store's counters.
    mutating func commit(_ counters: BackendCounters)
    /// The file's size and the part of it in use, in bytes; nil if it is not a file.
    var fileSizes: (total: Int, inUse: Int)? { get }
}

/// One change as the backend records it: etcd's (revision, sub) key and KeyValue.
public struct BackendChange: Sendable, Equatable {
    public var revision: Int64
    public var sub: Int32
    public var key: [UInt8]
    /// nil: a tombstone (the key was deleted at this revision).
    public var value: [UInt8]?
    public var createRevision: Int64
    public var version: Int64
    public var lease: Int64
}

/// What the backend records besides the changes, at each commit.
public struct BackendCounters: Sendable, Equatable {
    public var revision: Int64
    public var compactRevision: Int64
    /// The index of the last log entry applied to the store (etcd's consistent index).
    public var consistentIndex: UInt64
}

/// The backend in memory: rows in a dictionary, nothing durable. A value type, so a copy of a
/// store is a snapshot of it.
public struct MemoryBackend: MVCCBackend {
    var values: [Int64: [UInt8]] = [:]
    var nextRow: Int64 = 1

    public init() {}

    public mutating func insert(_ change: BackendChange) -> Int64 {
        defer { nextRow += 1 }
        values[nextRow] = change.value ?? []
        return nextRow
    }

    public func value(_ row: Int64) -> [UInt8] { values[row] ?? [] }

    public mutating func remove(_ rows: [Int64]) {
        for row in rows { values[row] = nil }
    }

    public mutating func saveLease(_ id: Int64, ttl: Int64) {}
    public mutating func removeLease(_ id: Int64) {}
    public mutating func saveAlarms(_ alarms: [MVCCStore.Alarm]) {}
    public mutating func saveAuth(_ state: [UInt8]) {}
    public mutating func commit(_ counters: BackendCounters) {}
    public var fileSizes: (total: Int, inUse: Int)? { nil }
}
