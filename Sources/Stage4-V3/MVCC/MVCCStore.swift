/// etcd v3's data model as a value: flat byte keys, one revision per write transaction, every
/// version of every key kept until compaction. Pure: no clock, no I/O, no locks; the server
/// applies log entries to it in order, at the revision the store itself assigns, so every
/// member that applies the same entries holds the same store.
///
/// Per key, the history is the list of its writes in revision order; a delete is a tombstone.
/// Reading at revision R finds, per key, the last write at or before R.
///
/// As etcd's, the store is two halves: the key index (each key's writes: revision, version,
/// lease) in memory here, and the values in a backend (`MVCCBackend`): a dictionary, or a
/// SQLite file for a store larger than memory. The backend is told every change as it happens.
public struct MVCCStore: Sendable {
    /// A key's state, as `mvccpb.KeyValue` carries it.
    public struct KeyValue: Sendable, Equatable {
        public var key: [UInt8]
        public var value: [UInt8]
        public var createRevision: Int64
        public var modRevision: Int64
        public var version: Int64
        public var lease: Int64
    }

    /// One change, as watchers see it.
    public struct Event: Sendable, Equatable {
        public enum Kind: Sendable { case put, delete }
        public var kind: Kind
        /// After the change; for a delete, the key with `modRevision` the deleting revision.
        public var kv: KeyValue
        /// The value replaced or deleted; nil for a new key, and unless the write read it
        /// (`eventsCarryPrevious`, `readingPrevious`).
        public var previous: KeyValue?
    }

    /// The last revision written; 1 for an empty store, as in etcd.
    public internal(set) var revision: Int64 = 1
    /// Revisions at or below this one have been compacted (0: never).
    public internal(set) var compactRevision: Int64 = 0
    /// Per key, writes in revision order (`nil` stamp: a tombstone).
    var index = OrderedIndex<[Record]>()
    /// Where the values live.
    public internal(set) var backend: any MVCCBackend
    /// Leases: the TTL granted and the keys attached. Replicated with the store; when each one
    /// expires is the lessor's business (`V3StateMachine`), decided by the leader alone.
    public internal(set) var leases: [Int64: Lease] = [:]

    /// Bytes the kept history takes, as the quota counts them (etcd's "size in use"): the same
    /// on every member, since every member applies the same writes and compactions.
    public internal(set) var sizeInUse = 0
    /// Raised alarms, replicated so that every member refuses what they forbid.
    public internal(set) var alarms: Set<Alarm> = []
    /// Users, roles and whether authentication is on: replicated with the store, and kept in
    /// the same backend and snapshots, as etcd keeps them in its bbolt file.
    public internal(set) var auth = AuthStore()

    /// An alarm a member raised (etcd's AlarmMember): `kind` is etcd's AlarmType number.
    public struct Alarm: Sendable, Hashable, Comparable {
        public var memberID: UInt64
        public var kind: Int32
        public init(memberID: UInt64, kind: Int32) {
            self.memberID = memberID
            self.kind = kind
        }
        public static func < (a: Alarm, b: Alarm) -> Bool { (a.memberID, a.kind) < (b.memberID, b.kind) }
        /// etcd's AlarmType NOSPACE.
        public static let noSpace: Int32 = 1
        /// etcd's AlarmType CORRUPT.
        public static let corrupt: Int32 = 2
    }

    /// What one record costs: its key and value, and about what etcd's backend spends besides
    /// (a 17-byte revision key and the KeyValue's framing).
    static func size(of record: Record, key: [UInt8]) -> Int { key.count + (record.stamp?.valueSize ?? 0) + 48 }

    public struct Lease: Sendable, Equatable {
        public var ttl: Int64
        public var keys: Set<[UInt8]> = []
    }

    /// One write of a key, as the index keeps it: everything but the value, which stays in the
    /// backend's `row`.
    struct Record: Sendable, Equatable {
        var revision: Int64
        /// The change's place within its revision (a transaction's writes, in op order).
        var sub: Int32
        var row: Int64
        /// nil: a tombstone.
        var stamp: Stamp?
    }

    struct Stamp: Sendable, Equatable {
        var createRevision: Int64
        var version: Int64
        var lease: Int64
        var valueSize: Int
    }

    /// The key's value as a record holds it, read from the backend (or left empty, nothing
    /// read, without `value`); nil for a tombstone.
    func keyValue(_ key: [UInt8], _ record: Record, value: Bool = true) -> KeyValue? {
        guard let stamp = record.stamp else { return nil }
        return KeyValue(
            key: key, value: value ? backend.value(record.row) : [], createRevision: stamp.createRevision, modRevision: record.revision,
            version: stamp.version, lease: stamp.lease)
    }

    // The last change's revision and place in it, to number the next one.
    var lastChange: (revision: Int64, sub: Int32) = (0, -1)

    mutating func nextSub(at revision: Int64) -> Int32 {
        lastChange = lastChange.revision == revision ? (revision, lastChange.sub + 1) : (revision, 0)
        return lastChange.sub
    }

    public init() { backend = MemoryBackend() }

    public enum ReadError: Error, Equatable {
        case compacted
        case futureRevision
    }

    /// The revision a read at `requested` (0 or less: the latest) sees, or why it cannot.
    public func readRevision(_ requested: Int64) throws(ReadError) -> Int64 {
        if requested <= 0 { return revision }
        if requested > revision { throw .futureRevision }
        if requested < compactRevision { throw .compacted }
        return requested
    }

    /// The keys a request names: one key, `[key, end)`, or with `end == [0]` every key from
    /// `key` on.
    static func bounds(_ key: [UInt8], _ end: [UInt8]) -> (start: [UInt8], end: [UInt8]?, single: Bool) {
        if end.isEmpty { return (key, nil, true) }
        if end == [0] { return (key, nil, false) }
        return (key, end, false)
    }

    /// Whether `key` is in the range `[start, end)` as `bounds` reads it.
    static func contains(_ start: [UInt8], _ end: [UInt8], _ key: [UInt8]) -> Bool {
        let (lower, upper, single) = bounds(start, end)
        if single { return key == lower }
        return !key.lexicographicallyPrecedes(lower) && (upper.map { key.lexicographicallyPrecedes($0) } ?? true)
    }

    /// The live values in the range as of `revision` (already checked), in key order.
    /// `limit` (0: none) stops after that many; only their values are read from the backend.
    /// Without `values` nothing is read from it: the index holds the rest of each KeyValue, so
    /// a keys-only listing costs no lookup in the file per key (each value comes back empty).
    public func range(_ key: [UInt8], _ end: [UInt8], at revision: Int64, limit: Int = 0, values: Bool = true) -> [KeyValue] {
        var result: [KeyValue] = []
        visit(key, end, at: revision) { key, record in
            if let kv = keyValue(key, record, value: values) { result.append(kv) }
            return limit <= 0 || result.count < limit
        }
        return result
    }

    /// How many live keys the range holds as of `revision` (no value is read).
    public func count(_ key: [UInt8], _ end: [UInt8], at revision: Int64) -> Int {
        var total = 0
        visit(key, end, at: revision) { _, _ in
            total += 1
            return true
        }
        return total
    }

    /// Calls `body` with each key live at `revision` in the range and the record it has there,
    /// in key order, until `body` returns false.
    private func visit(_ key: [UInt8], _ end: [UInt8], at revision: Int64, _ body: ([UInt8], Record) -> Bool) {
        let (start, stop, single) = Self.bounds(key, end)
        if single {
            if let history = index[start], let record = Self.live(in: history, at: revision) { _ = body(start, record) }
            return
        }
        index.forEach(from: start, below: stop) { key, history in
            guard let record = Self.live(in: history, at: revision) else { return true }
            return body(key, record)
        }
    }

    /// The key's write in effect at `revision`: its last at or before it, unless a delete.
    static func live(in history: [Record], at revision: Int64) -> Record? {
        var low = 0, high = history.count
        while low < high {
            let middle = (low + high) / 2
            if history[middle].revision <= revision { low = middle + 1 } else { high = middle }
        }
        return low == 0 || history[low - 1].stamp == nil ? nil : history[low - 1]
    }

    /// Whether `key` is live now, from the index alone (no value is read).
    public func isLive(_ key: [UInt8]) -> Bool { index[key]?.last?.stamp != nil }

    /// The lease `key` is on now, from the index alone; nil if the key is not live.
    public func lease(of key: [UInt8]) -> Int64? { index[key]?.last?.stamp?.lease }

    /// The key's latest live value.
    public func current(_ key: [UInt8]) -> KeyValue? {
        guard let last = index[key]?.last else { return nil }
        return keyValue(key, last)
    }

    // MARK: Writes, each at the revision of the transaction it belongs to (`nextRevision`); the
    // store's revision moves there once something changes.

    /// The revision the next write transaction writes at.
    public var nextRevision: Int64 { revision + 1 }

    /// Whether a write's events carry the values it replaces or deletes (`Event.previous`).
    /// With a file that costs a read of it per key, so the owner turns it off while no watcher
    /// asked for previous values, as etcd reads them only for those that did (a write that asks
    /// for prev_kv reads them anyway: the `readingPrevious` of `put` and `deleteRange`).
    public var eventsCarryPrevious = true

    /// Sets `key` at `revision` (the transaction's); returns the event, which carries the value
    /// replaced if `readingPrevious`.
    @discardableResult
    public mutating func put(_ key: [UInt8], _ value: [UInt8], lease: Int64, at revision: Int64, readingPrevious: Bool? = nil) -> Event {
        // The key's live record: its stamp numbers this write without reading the old value.
        // One search finds it and the place the new record goes (nothing below changes the index).
        let place = index.place(of: key)
        let last = index.value(at: place)?.last
        let replaced = last?.stamp
        let previous = (readingPrevious ?? eventsCarryPrevious) ? last.flatMap { keyValue(key, $0) } : nil
        let kv = KeyValue(
            key: key, value: value, createRevision: replaced?.createRevision ?? revision, modRevision: revision,
            version: (replaced?.version ?? 0) + 1, lease: lease)
        // A key written twice at one revision (a delete then a put in one transaction) keeps
        // both records, ordered by `sub`; reads see the last.
        let sub = nextSub(at: revision)
        let row = backend.insert(BackendChange(
            revision: revision, sub: sub, key: key, value: value, createRevision: kv.createRevision, version: kv.version, lease: lease))
        let record = Record(
            revision: revision, sub: sub, row: row,
            stamp: Stamp(createRevision: kv.createRevision, version: kv.version, lease: lease, valueSize: value.count))
        index.modify(at: place, key, initial: []) { $0.append(record) }
        sizeInUse += Self.size(of: record, key: key)
        if let old = replaced?.lease, old != 0, old != lease { leases[old]?.keys.remove(key) }
        if lease != 0 { leases[lease]?.keys.insert(key) }
        self.revision = max(self.revision, revision)
        return Event(kind: .put, kv: kv, previous: previous)
    }

    /// Deletes the live keys in the range at `revision`; returns one event per key deleted,
    /// which carries the value deleted if `readingPrevious`.
    public mutating func deleteRange(_ key: [UInt8], _ end: [UInt8], at revision: Int64, readingPrevious: Bool? = nil) -> [Event] {
        // The index alone says what goes (as etcd's treeIndex); values are read only if wanted.
        var doomed: [(key: [UInt8], record: Record)] = []
        visit(key, end, at: self.revision) { key, record in
            doomed.append((key, record))
            return true
        }
        let reading = readingPrevious ?? eventsCarryPrevious
        var events: [Event] = []
        for (key, live) in doomed {
            let sub = nextSub(at: revision)
            let row = backend.insert(BackendChange(revision: revision, sub: sub, key: key, value: nil, createRevision: 0, version: 0, lease: 0))
            let record = Record(revision: revision, sub: sub, row: row, stamp: nil)
            index.modify(key, initial: []) { $0.append(record) }
            sizeInUse += Self.size(of: record, key: key)
            if let lease = live.stamp?.lease, lease != 0 { leases[lease]?.keys.remove(key) }
            let tombstone = KeyValue(key: key, value: [], createRevision: 0, modRevision: revision, version: 0, lease: 0)
            events.append(Event(kind: .delete, kv: tombstone, previous: reading ? keyValue(key, live) : nil))
        }
        if !events.isEmpty { self.revision = max(self.revision, revision) }
        return events
    }

    /// Forgets every version superseded at or before `revision`: reads below it then fail with
    /// `compacted`. A key deleted before it disappears entirely; one deleted at it keeps its
    /// tombstone until the next compaction, for watchers resuming there.
    public mutating func compact(_ revision: Int64) throws(ReadError) {
        if revision > self.revision { throw .futureRevision }
        if revision <= compactRevision { throw .compacted }
        compactRevision = revision
        prune(through: revision)
    }

    /// Drops from the index every record a compaction at `revision` leaves behind, and tells
    /// the backend their rows may go.
    mutating func prune(through revision: Int64) {
        var freed = 0
        var rows: [Int64] = []
        index.compactMap { key, history in
            // Keep the last write at or before `revision` (what a read there sees) unless it is
            // a tombstone, and everything after it. A tombstone at exactly `revision` stays until
            // the next compaction: a watcher may resume from the compaction revision, and must
            // get that delete (etcd #18089, which etcd 3.4 has: there the delete is lost).
            var firstKept = 0
            if let last = history.lastIndex(where: { $0.revision <= revision }) {
                firstKept = history[last].stamp == nil && history[last].revision < revision ? last + 1 : last
            }
            for record in history[..<firstKept] {
                freed += Self.size(of: record, key: key)
                rows.append(record.row)
            }
            return firstKept == history.count ? nil : Array(history[firstKept...])
        }
        sizeInUse -= freed
        rows.sort()
        backend.remove(rows)
    }

    /// The changes to keys in the range after `revision` (exclusive), in order: what a watcher
    /// starting there must be sent first. Each carries the key's previous value.
    public func changes(_ key: [UInt8], _ end: [UInt8], after revision: Int64) -> [Event] {
        var found: [(revision: Int64, sub: Int32, event: Event)] = []
        let (start, stop, single) = Self.bounds(key, end)
        func collect(_ key: [UInt8], _ history: [Record]) {
            for (position, record) in history.enumerated() where record.revision > revision {
                let previous = position > 0 ? keyValue(key, history[position - 1]) : nil
                let event: Event
                if let kv = keyValue(key, record) {
                    event = Event(kind: .put, kv: kv, previous: previous)
                } else {
                    event = Event(kind: .delete, kv: KeyValue(key: key, value: [], createRevision: 0, modRevision: record.revision, version: 0, lease: 0), previous: previous)
                }
                found.append((record.revision, record.sub, event))
            }
        }
        if single {
            if let history = index[start] { collect(start, history) }
        } else {
            index.forEach(from: start, below: stop) { key, history in
                collect(key, history)
                return true
            }
        }
        found.sort { ($0.revision, $0.sub) < ($1.revision, $1.sub) }
        return found.map(\.event)
    }

    /// Every record, for snapshots and hashes: keys in order, each key's writes in order.
    func forEachRecord(_ body: ([UInt8], Record) -> Void) {
        index.forEach(from: [], below: nil) { key, history in
            for record in history { body(key, record) }
            return true
        }
    }

    /// How many keys have any history (live or not), for status.
    public var keyCount: Int { index.count }

}
