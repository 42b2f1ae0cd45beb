import CSQLite
import SingleNode

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The backend in a SQLite file (a B-tree on disk, as etcd's bbolt): one row per change, keyed
/// by a row number that grows with (revision, sub), so the file's order is the log's order and
/// a value is one lookup by row. Tables: `kv` (the changes), `lease`, `alarm`, and `meta` (the
/// revision, the compacted revision and the consistent index, written at each commit).
///
/// Writes go into one open transaction, committed by `commit` (every `--backend-batch-interval`
/// or `--backend-batch-limit` entries): reads on this connection see them at once, other
/// connections (snapshot copies) see the last commit. WAL journal with full syncs, so a
/// commit survives a power cut and a torn one is rolled back, never half-applied.
///
/// A failed write is not survivable here: the store in memory already moved on, so the
/// member stops (as etcd's backend panics) and a restart replays the log from the last commit.
/// Used only under `V3StateMachine`'s lock, hence unchecked Sendable.
public final class SQLiteBackend: MVCCBackend, @unchecked Sendable {
    public let path: String
    let connection: SQLiteConnection
    private let insertChange, selectValue, deleteRow, upsertLease, deleteLease, upsertMeta: SQLiteStatement
    private let pageCount, freePages: SQLiteStatement
    private let pageSize: Int
    /// Rows compaction freed and not yet deleted, oldest first.
    private var pendingRemovals: [Int64] = []
    private var pendingStart = 0
    /// The counters as of the last commit (or as the file had them when opened).
    public private(set) var committed: BackendCounters

    /// etcd's `--experimental-compaction-batch-limit` default: rows deleted per step.
    public static let defaultRemovalBatch = 1000

    /// What marks a file as ours: SQLite's application id ("etcd") and a schema version.
    static let applicationID: Int64 = 0x6574_6364
    static let schemaVersion: Int64 = 1

    public struct NotABackend: Error, CustomStringConvertible {
        public var description: String
    }

    /// Opens the file at `path`, creating it (mode 0600, in a directory the caller made 0700)
    /// if it does not exist.
    public init(path: String) throws {
        self.path = path
        // Created readable by this user alone, as etcd's db (SQLite gives its -wal and -shm
        // files the same mode).
        let descriptor = open(path, O_RDWR | O_CREAT, 0o600)
        if descriptor >= 0 { close(descriptor) }
        connection = try SQLiteConnection(path: path)
        let application = try connection.integer("PRAGMA application_id")
        let version = try connection.integer("PRAGMA user_version")
        let tables = try connection.integer("SELECT count(*) FROM sqlite_schema")
        if tables == 0 {
            // In one transaction: a crash while creating leaves an empty file, never half a schema.
            try connection.execute("""
                BEGIN;
                PRAGMA application_id = \(Self.applicationID);
                PRAGMA user_version = \(Self.schemaVersion);
                CREATE TABLE kv (row INTEGER PRIMARY KEY, rev INTEGER NOT NULL, sub INTEGER NOT NULL, key BLOB NOT NULL,
                                 value BLOB, create_rev INTEGER NOT NULL, version INTEGER NOT NULL, lease INTEGER NOT NULL);
                CREATE TABLE lease (id INTEGER PRIMARY KEY, ttl INTEGER NOT NULL);
                CREATE TABLE alarm (member INTEGER NOT NULL, kind INTEGER NOT NULL, PRIMARY KEY (member, kind));
                CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                COMMIT;
                """)
        } else if application != Self.applicationID || version != Self.schemaVersion {
            throw NotABackend(description: "\(path) is not a v3 store this etcd can read (application id \(application), schema \(version))")
        }
        // The auth store, one row: added to schema 1 later, so made here in files without it.
        try connection.execute("CREATE TABLE IF NOT EXISTS auth (id INTEGER PRIMARY KEY, state BLOB NOT NULL)")
        // WAL: readers (snapshot copies) never block the writer; FULL: each commit is synced.
        // No automatic checkpoints: they would copy pages into the main file and sync it inside
        // every commit that crosses their threshold, under the store's lock; `Checkpointer` does
        // it from a connection of its own, and a commit only finishes its work, when asked
        // (`logWantsRestart`). A -wal file larger than the limit is cut back to it when the log
        // starts over, so one grown before that existed shrinks too.
        try connection.execute(
            """
            PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 0;
            PRAGMA journal_size_limit = \(Self.logSizeLimit)
            """)
        pageSize = Int(try connection.integer("PRAGMA page_size"))
        insertChange = try connection.prepare(
            "INSERT INTO kv (rev, sub, key, value, create_rev, version, lease) VALUES (?, ?, ?, ?, ?, ?, ?)")
        selectValue = try connection.prepare("SELECT value FROM kv WHERE row = ?")
        deleteRow = try connection.prepare("DELETE FROM kv WHERE row = ?")
        upsertLease = try connection.prepare("INSERT OR REPLACE INTO lease (id, ttl) VALUES (?, ?)")
        deleteLease = try connection.prepare("DELETE FROM lease WHERE id = ?")
        upsertMeta = try connection.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)")
        pageCount = try connection.prepare("PRAGMA page_count")
        freePages = try connection.prepare("PRAGMA freelist_count")
        committed = BackendCounters(revision: 1, compactRevision: 0, consistentIndex: 0)
        committed = try readCounters()
        try connection.execute("BEGIN")
    }

    private func readCounters() throws(SQLiteError) -> BackendCounters {
        let select = try connection.prepare("SELECT name, value FROM meta")
        var counters = BackendCounters(revision: 1, compactRevision: 0, consistentIndex: 0)
        while try select.step() {
            let value = select.int64(1)
            switch select.text(0) {
            case "revision": counters.revision = value
            case "compact_revision": counters.compactRevision = value
            case "consistent_index": counters.consistentIndex = UInt64(bitPattern: value)
            default: break
            }
        }
        return counters
    }

    /// Stops the member: see the type's comment.
    private func fail(_ error: SQLiteError) -> Never {
        // Fail-stop, as the WAL does when it cannot sync: nothing later may be applied over a
        // change the file lost. A clean exit with the reason, not a crash report.
        FileHandleOutput.standardError("etcd: critical: the v3 backend cannot record a change, stopping (the log replays it at restart): \(error)\n")
        exit(1)
    }

    public func insert(_ change: BackendChange) -> Int64 {
        insertChange.bind(1, change.revision)
        insertChange.bind(2, Int64(change.sub))
        insertChange.bind(3, change.key)
        insertChange.bind(4, change.value)
        insertChange.bind(5, change.createRevision)
        insertChange.bind(6, change.version)
        insertChange.bind(7, change.lease)
        do { try insertChange.run() } catch { fail(error) }
        return connection.lastInsertedRow
    }

    public func value(_ row: Int64) -> [UInt8] {
        selectValue.bind(1, row)
        defer { selectValue.reset() }
        do {
            guard try selectValue.step() else {
                fatalError("the v3 backend \(path) has no row \(row) that its index names: the file is damaged")
            }
        } catch { fatalError("the v3 backend cannot be read: \(error)") }
        return selectValue.blob(0) ?? []
    }

    public func remove(_ rows: [Int64]) {
        pendingRemovals += rows
    }

    /// Deletes up to `limit` of the rows compaction freed; true if some remain. Called between
    /// batches so a large compaction never holds writes up for long.
    @discardableResult
    public func removeSome(limit: Int = SQLiteBackend.defaultRemovalBatch) -> Bool {
        let end = min(pendingRemovals.count, pendingStart + limit)
        for position in pendingStart..<end {
            deleteRow.bind(1, pendingRemovals[position])
            do { try deleteRow.run() } catch { fail(error) }
        }
        pendingStart = end
        if pendingStart == pendingRemovals.count {
            pendingRemovals = []
            pendingStart = 0
        }
        return pendingStart < pendingRemovals.count
    }

    public var hasPendingRemovals: Bool { pendingStart < pendingRemovals.count }

    public func saveLease(_ id: Int64, ttl: Int64) {
        upsertLease.bind(1, id)
        upsertLease.bind(2, ttl)
        do { try upsertLease.run() } catch { fail(error) }
    }

    public func removeLease(_ id: Int64) {
        deleteLease.bind(1, id)
        do { try deleteLease.run() } catch { fail(error) }
    }

    public func saveAlarms(_ alarms: [MVCCStore.Alarm]) {
        do {
            try connection.execute("DELETE FROM alarm")
            let insert = try connection.prepare("INSERT INTO alarm (member, kind) VALUES (?, ?)")
            for alarm in alarms {
                insert.bind(1, Int64(bitPattern: alarm.memberID))
                insert.bind(2, Int64(alarm.kind))
                try insert.run()
            }
        } catch { fail(error) }
    }

    public func saveAuth(_ state: [UInt8]) {
        do {
            let upsert = try connection.prepare("INSERT OR REPLACE INTO auth (id, state) VALUES (1, ?)")
            upsert.bind(1, state)
            try upsert.run()
        } catch { fail(error) }
    }

    public func commit(_ counters: BackendCounters) {
        do {
            for (name, value) in [
                ("revision", counters.revision), ("compact_revision", counters.compactRevision),
                ("consistent_index", Int64(bitPattern: counters.consistentIndex)),
            ] {
                upsertMeta.bind(1, text: name)
                upsertMeta.bind(2, value)
                try upsertMeta.run()
            }
            try connection.execute("COMMIT")
            if logWantsRestart {
                // Only this batch is left to copy: the checkpointer copied everything before it.
                // The commit is done; a failed copy only leaves the log as it was, to be
                // finished at a later request, as a failed pass of the checkpointer does.
                try? connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                logWantsRestart = false
            }
            try connection.execute("BEGIN")
        } catch { fail(error) }
        committed = counters
    }

    /// Set (under the store's lock) once the checkpointer has copied a log of at least
    /// `Checkpointer.restartAfter` frames whole: the next commit then copies its own batch
    /// before the next one begins.
    ///
    /// SQLite writes the log from its start again only when a write transaction begins with
    /// every page of it already copied into the main file. The checkpointer copies from another
    /// connection, after a commit; by then the next batch has already begun on this one, with
    /// pages the copy has not reached, so that moment never came and the log grew with every
    /// write (as large as the store itself after 2 GiB of puts). Copying the rest here, between
    /// COMMIT and BEGIN, is that moment; it costs the pages of one batch (and a sync of the
    /// file) under the store's lock, about once a second under load. A reader holding an older
    /// commit (a snapshot being copied, a hash being taken) keeps the log from starting over
    /// until it is done.
    public var logWantsRestart = false

    /// The -wal file's size once the log starts over (SQLite's journal_size_limit): 64 MiB.
    static let logSizeLimit = 64 << 20

    public var fileSizes: (total: Int, inUse: Int)? {
        func read(_ statement: SQLiteStatement) -> Int {
            defer { statement.reset() }
            return ((try? statement.step()) ?? false) ? Int(statement.int64(0)) : 0
        }
        let pages = read(pageCount)
        return (pages * pageSize, (pages - read(freePages)) * pageSize)
    }
}

// MARK: Reading the whole file, copying it, replacing it, shrinking it.

extension SQLiteBackend {
    /// One change as `load` reads it: no value, only its size (the value stays on disk).
    public struct LoadedChange {
        public var row: Int64
        public var revision: Int64
        public var sub: Int32
        public var key: [UInt8]
        public var isTombstone: Bool
        public var createRevision: Int64
        public var version: Int64
        public var lease: Int64
        public var valueSize: Int
    }

    /// Every change in row order (the log's), then the leases, alarms and auth store: what the
    /// store's index is rebuilt from at start, as etcd rebuilds its treeIndex from bbolt.
    public func load(_ body: (LoadedChange) -> Void) throws -> (leases: [(id: Int64, ttl: Int64)], alarms: [MVCCStore.Alarm], auth: [UInt8]?) {
        let select = try connection.prepare(
            "SELECT row, rev, sub, key, value IS NULL, create_rev, version, lease, length(value) FROM kv ORDER BY row")
        while try select.step() {
            body(LoadedChange(
                row: select.int64(0), revision: select.int64(1), sub: Int32(truncatingIfNeeded: select.int64(2)),
                key: select.blob(3) ?? [], isTombstone: select.int64(4) != 0, createRevision: select.int64(5),
                version: select.int64(6), lease: select.int64(7), valueSize: Int(select.int64(8))))
        }
        var leases: [(id: Int64, ttl: Int64)] = []
        let selectLeases = try connection.prepare("SELECT id, ttl FROM lease ORDER BY id")
        while try selectLeases.step() { leases.append((selectLeases.int64(0), selectLeases.int64(1))) }
        var alarms: [MVCCStore.Alarm] = []
        let selectAlarms = try connection.prepare("SELECT member, kind FROM alarm ORDER BY member, kind")
        while try selectAlarms.step() {
            alarms.append(MVCCStore.Alarm(memberID: UInt64(bitPattern: selectAlarms.int64(0)), kind: Int32(truncatingIfNeeded: selectAlarms.int64(1))))
        }
        let selectAuth = try connection.prepare("SELECT state FROM auth WHERE id = 1")
        let auth = try selectAuth.step() ? selectAuth.blob(0) ?? [] : nil
        return (leases, alarms, auth)
    }

    /// The last commit, held for reading off the store's lock: a connection of its own with a
    /// read transaction begun now, so later commits (writes carry on meanwhile) are not seen.
    /// Every commit holds its counters, so what it holds is the store as of its own consistent
    /// index. Used once, by one thread.
    public final class PinnedCommit: @unchecked Sendable {
        private let reader: SQLiteConnection
        /// The consistent index of the commit pinned.
        public let consistentIndex: UInt64

        init(path: String) throws {
            reader = try SQLiteConnection(path: path, readOnly: true)
            try reader.execute("BEGIN")
            // The read transaction starts here.
            consistentIndex = UInt64(bitPattern: try reader.integer(
                "SELECT coalesce((SELECT value FROM meta WHERE name = 'consistent_index'), 0)"))
        }

        /// Writes a copy of the file to `destination`, a new file.
        public func write(to destination: String) throws {
            defer { try? reader.execute("COMMIT") }
            let target = try SQLiteConnection(path: destination)
            try target.copy(from: reader)
        }

        /// Every change at or below `revision` in (revision, sub) order, with its value.
        public func forEachChange(through revision: Int64, _ body: (_ row: Int64, BackendChange) -> Void) throws {
            defer { try? reader.execute("COMMIT") }
            let select = try reader.prepare(
                "SELECT row, rev, sub, key, value, create_rev, version, lease FROM kv WHERE rev <= ? ORDER BY row")
            select.bind(1, revision)
            while try select.step() {
                body(select.int64(0), BackendChange(
                    revision: select.int64(1), sub: Int32(truncatingIfNeeded: select.int64(2)), key: select.blob(3) ?? [],
                    value: select.blob(4), createRevision: select.int64(5), version: select.int64(6), lease: select.int64(7)))
            }
        }
    }

    /// Pins the last commit (see `PinnedCommit`).
    public func pinCommit() throws -> PinnedCommit { try PinnedCommit(path: path) }

    /// Rows compaction freed that are still in the file.
    public var rowsAwaitingRemoval: Set<Int64> { Set(pendingRemovals[pendingStart...]) }

    /// Replaces the whole contents with the database at `source` (a copy another member made),
    /// in one transaction: a crash leaves the old contents or the new. Pending removals belong
    /// to the old contents and are dropped. The caller commits first (see `defragment`).
    public func replace(with source: String) throws {
        let incoming = try SQLiteConnection(path: source, readOnly: true)
        let application = try incoming.integer("PRAGMA application_id")
        guard application == Self.applicationID else {
            throw NotABackend(description: "the received v3 store is not one this etcd can read (application id \(application))")
        }
        try connection.execute("COMMIT")
        defer { reopenBatch() }
        try connection.copy(from: incoming)
        pendingRemovals = []
        pendingStart = 0
        committed = try readCounters()
    }

    /// The counters a backend file's last commit recorded, read without opening it for writes.
    public static func counters(ofFile path: String) throws -> BackendCounters {
        let file = try SQLiteBackend(path: path)
        return file.committed
    }

    /// Empties every table, in the open batch (a restore from an older snapshot format fills
    /// them again before the batch commits).
    func clear() throws {
        try connection.execute("DELETE FROM kv; DELETE FROM lease; DELETE FROM alarm; DELETE FROM auth; DELETE FROM meta")
        pendingRemovals = []
        pendingStart = 0
    }

    /// Opens the next batch after work outside one; without it, writes would commit one by one
    /// without their counters, so a failure here stops the member.
    private func reopenBatch() {
        do { try connection.execute("BEGIN") } catch { fail(error) }
    }

    /// Drops the open batch (a restore that failed halfway) and opens the next.
    func rollback() {
        do { try connection.execute("ROLLBACK; BEGIN") } catch { fail(error) }
    }

    /// Rebuilds the file without its free pages (etcd's defragment), after deleting every row
    /// compaction freed. Writes wait meanwhile, as they do for etcd's. The caller commits first:
    /// every commit must carry the counters of what it holds.
    public func defragment() throws {
        while removeSome(limit: 100_000) {}
        commit(committed)
        try connection.execute("COMMIT")
        defer { reopenBatch() }
        // A passive checkpoint: a copy in progress may hold an older read, and this runs under
        // the store's lock, so it must not wait for it (the checkpointer finishes later).
        try connection.execute("VACUUM; PRAGMA wal_checkpoint(PASSIVE)")
    }
}
