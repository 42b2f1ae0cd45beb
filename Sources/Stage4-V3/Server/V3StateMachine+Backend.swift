import BinaryCodec
import Foundation
import Raft

/// The v3 store on disk: opening its file, committing batches, and what snapshots carry.
///
/// With a file, a Raft snapshot no longer copies the store: the file already holds it, so the
/// snapshot records only a marker (the consistent index the file reached, committed and synced
/// when the snapshot is taken), and the log before it can go. Only a member that needs the
/// whole state (a follower behind the compacted log, a backup) gets a copy of the file,
/// made by SQLite from its last commit while writes carry on.
extension V3StateMachine {
    /// When the open batch is committed: etcd's `--backend-batch-interval` (100 ms) and
    /// `--backend-batch-limit` (10,000 entries), whichever comes first.
    public struct BatchPolicy: Sendable {
        public var interval: Duration = .milliseconds(100)
        public var limit = 10_000
        /// Rows deleted per step after a compaction (`--experimental-compaction-batch-limit`).
        public var removals = SQLiteBackend.defaultRemovalBatch
        public init() {}
    }

    /// Keeps the store in the SQLite file at `path` (created if missing): the key index is
    /// rebuilt from it, and entries up to the index it records will be skipped.
    public func openBackend(at path: String, batch: BatchPolicy = BatchPolicy()) throws {
        // Received copies (from an older snapshot format) a crash left behind.
        let directory = (path as NSString).deletingLastPathComponent, name = (path as NSString).lastPathComponent
        for leftover in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where leftover.hasPrefix(name + ".incoming-") {
            unlink(directory + "/" + leftover)
        }
        let file = try SQLiteBackend(path: path)
        let store = try MVCCStore(loading: file)
        let instant = now()
        state.withLock { state in
            state.store = store
            state.file = file
            state.batch = batch
            state.consistentIndex = file.committed.consistentIndex
            state.lastCommit = instant
            state.totalSize = store.sizeInUse
            state.knownTotal = state.sizes.total
        }
    }

    /// With a file, snapshots are markers and followers are sent a copy of the file.
    public var sendsStateApart: Bool { backendPath != nil }

    /// The backend file's path; nil in memory.
    public var backendPath: String? { state.withLock { $0.file?.path } }

    public var appliedThrough: UInt64 { consistentIndex }

    /// The index of the last entry the store holds.
    public var consistentIndex: UInt64 { state.withLock { $0.consistentIndex } }

    /// The index the file holds durably (its last commit); nil without a file.
    public var committedIndex: UInt64? { state.withLock { $0.file?.committed.consistentIndex } }

    /// Commits the open batch if it is old enough, and deletes a batch of rows a compaction
    /// freed. Returns whether rows are still waiting, so the caller comes back soon.
    @discardableResult
    public func backgroundStep() -> Bool {
        let instant = now()
        return state.withLock { state in
            guard let file = state.file else { return false }
            if file.hasPendingRemovals {
                file.removeSome(limit: state.batch.removals)
                state.uncommitted += 1  // deletions to commit
            }
            if state.uncommitted > 0, let last = state.lastCommit, last.duration(to: instant) >= state.batch.interval {
                state.commit(at: instant)
            }
            return file.hasPendingRemovals
        }
    }

    /// Has the next commit finish the file's checkpoint, so that its write-ahead log starts
    /// over (see `SQLiteBackend.logWantsRestart`).
    public func askToRestartLog() {
        state.withLock { $0.file?.logWantsRestart = true }
    }

    /// Commits now: what a clean shutdown does last.
    public func commitNow() {
        let instant = now()
        state.withLock { $0.commit(at: instant) }
    }

    // MARK: Snapshots

    /// What a local snapshot records: with a file, a marker (after a commit, so the file holds
    /// everything applied); in memory, the store, encoded later off the Raft loop.
    public func snapshotSource() -> @Sendable () -> [UInt8] {
        let instant = now()
        return state.withLock { state in
            guard state.file != nil else {
                // A copy of the store shares its storage until the next write: cheap here.
                let store = state.store
                return { store.encoded() }
            }
            state.commit(at: instant)
            let marker = SnapshotData.marker(consistentIndex: state.consistentIndex).encoded()
            return { marker }
        }
    }

    /// The whole state, for another member or a backup, as of this call (on the Raft loop):
    /// a commit, then that commit pinned and copied off the loop while writes go on. Nil in
    /// memory, where a snapshot holds the whole state already.
    public func transferSource() -> (@Sendable (_ path: String) throws -> [UInt8])? {
        let instant = now()
        return state.withLock { state in
            guard let file = state.file else { return nil }
            state.commit(at: instant)
            let pinned = Swift.Result { try file.pinCommit() }
            return { path in
                let commit = try pinned.get()
                do { try commit.write(to: path) } catch {
                    Self.removeFile(path)
                    throw error
                }
                // The note: what the copy holds, as a marker would say it.
                return SnapshotData.marker(consistentIndex: commit.consistentIndex).encoded()
            }
        }
    }

    /// A copy of the whole state as bytes (tests); nil in memory.
    func transferData() throws -> [UInt8]? {
        guard let transfer = transferSource() else { return nil }
        let path = NSTemporaryDirectory() + "/etcd-v3-copy-\(UInt64.random(in: 1...UInt64.max))"
        defer { Self.removeFile(path) }
        _ = try transfer(path)
        return try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// etcd's HashKV at `revision` (which the caller checked), with the store's revision and
    /// compacted revision of the moment. With a file, the rows are read from a pinned commit off
    /// the lock, so a large store's hash never holds up the Raft loop: the file's rows at that
    /// commit, less those a compaction freed and not yet deleted, are the index's records.
    public func hashKV(at requested: Int64) throws -> (hash: UInt32, revision: Int64, compactRevision: Int64) {
        let instant = now()
        let pinned: (SQLiteBackend.PinnedCommit, Set<Int64>, Int64, Int64, Int64)? = try state.withLock { state in
            let revision = requested == 0 ? state.store.revision : requested
            guard let file = state.file else { return nil }
            state.commit(at: instant)
            return (try file.pinCommit(), file.rowsAwaitingRemoval, revision, state.store.revision, state.store.compactRevision)
        }
        guard let (commit, freed, revision, current, compacted) = pinned else {
            return state.withLock { state in
                let store = state.store
                return (store.hashKV(at: requested == 0 ? store.revision : requested), store.revision, store.compactRevision)
            }
        }
        var hash = MVCCStore.HashKV()
        try commit.forEachChange(through: revision) { row, change in
            guard !freed.contains(row) else { return }
            let kv = change.value.map {
                MVCCStore.KeyValue(
                    key: change.key, value: $0, createRevision: change.createRevision, modRevision: change.revision,
                    version: change.version, lease: change.lease)
            }
            hash.add(revision: change.revision, sub: change.sub, key: change.key, kv)
        }
        return (hash.value, current, compacted)
    }

    public struct BackendBehind: Error, CustomStringConvertible {
        public var description: String
    }

    public func restore(from data: [UInt8], at index: UInt64) throws {
        let instant = now()
        let file = state.withLock { $0.file }
        switch SnapshotData(data) {
        case .marker(let marked):
            // The state is in this member's file, which must have reached the marker.
            guard let file else { throw BackendBehind(description: "the snapshot's v3 store is in a backend file, and this member runs without one") }
            let held = state.withLock { $0.consistentIndex }
            guard held >= marked else {
                throw BackendBehind(description:
                    "the v3 backend \(file.path) holds entries up to \(held) but the snapshot needs \(marked): the file was lost or replaced; restore this member from a backup, or remove it and add it back with an empty data directory")
            }
        case .spooled(let incoming, let note):
            // Received into a file as it came (a follower behind the compacted log): taken from
            // there, then the file goes. Missing, it was taken before a restart, so the store
            // must hold what the note says the file held.
            guard FileManager.default.fileExists(atPath: incoming) else {
                guard case .marker(let held) = SnapshotData(note) else { throw BackendBehind(description: "a received v3 store's note is unreadable") }
                try restore(from: SnapshotData.marker(consistentIndex: held).encoded(), at: index)
                return
            }
            defer { Self.removeFile(incoming) }
            try swapIn(incoming, at: instant)
        case .file(let bytes):
            // Written out first (no lock needed), then swapped in.
            let directory = file.map { ($0.path as NSString).deletingLastPathComponent } ?? NSTemporaryDirectory()
            let name = file.map { ($0.path as NSString).lastPathComponent } ?? "db"
            let incoming = directory + "/\(name).incoming-\(UInt64.random(in: 1...UInt64.max))"
            defer { Self.removeFile(incoming) }
            try Data(bytes).write(to: URL(fileURLWithPath: incoming))
            try swapIn(incoming, at: instant)
        case .encoded(let bytes):
            try state.withLock { state in
                guard let file else {
                    state.install(try MVCCStore(encoded: bytes), consistentIndex: index, at: instant)
                    return
                }
                // An older snapshot format, from before the file: written into it if newer.
                guard index > state.consistentIndex else { return }
                state.commit(at: instant)
                do {
                    try file.clear()
                    let store = try MVCCStore(encoded: bytes, into: file)
                    state.install(store, consistentIndex: index, at: instant)
                    state.commit(at: instant)
                } catch {
                    file.rollback()  // never commit half a restore
                    throw error
                }
            }
        }
    }

    /// Takes the store in a copy of a backend file at `incoming`, unless this member's store is
    /// already as new: swapped in and read under one lock, so no read or commit ever sees the
    /// new file with the old index.
    private func swapIn(_ incoming: String, at instant: ContinuousClock.Instant) throws {
        let counters = try SQLiteBackend.counters(ofFile: incoming)
        let file = state.withLock { $0.file }
        try state.withLock { state in
            guard counters.consistentIndex > state.consistentIndex else { return }
            guard let file else {
                // In memory (tests): read the copy, then keep it in memory.
                let copy = try SQLiteBackend(path: incoming)
                state.install(try MVCCStore(encoded: MVCCStore(loading: copy).encoded()), consistentIndex: counters.consistentIndex, at: instant)
                return
            }
            state.commit(at: instant)
            try file.replace(with: incoming)
            state.install(try MVCCStore(loading: file), consistentIndex: file.committed.consistentIndex, at: instant)
        }
    }

    static func removeFile(_ path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
    }
}

extension V3StateMachine.State {
    /// A store restored from a snapshot takes over: its leases get their full TTL on this
    /// member's clock, and watchers carry on from its history, as etcd's do after a restore.
    mutating func install(_ restored: MVCCStore, consistentIndex index: UInt64, at instant: ContinuousClock.Instant) {
        store = restored
        consistentIndex = index
        totalSize = restored.sizeInUse
        uncommitted = 0
        lastCommit = instant
        lessor.reset(to: restored.leases, at: instant)
        watchers.resync(with: restored)
        // The snapshot may be past a password change, a user's deletion or auth turned off
        // that this member never applied: no token it knew is trusted any more.
        tokens.removeAll()
        knownTotal = sizes.total
    }

    var sizes: (total: Int, inUse: Int) {
        file?.fileSizes ?? (totalSize, store.sizeInUse)
    }

    mutating func noteApplied(_ index: UInt64, at instant: ContinuousClock.Instant) {
        if index > 0 { consistentIndex = index }
        if file == nil {
            totalSize = max(totalSize, store.sizeInUse)
            knownTotal = totalSize
            return
        }
        uncommitted += 1
        if uncommitted >= batch.limit { commit(at: instant) }
    }

    /// Makes the file hold everything applied, with the counters that say so.
    mutating func commit(at instant: ContinuousClock.Instant) {
        guard let file else { return }
        file.commit(BackendCounters(revision: store.revision, compactRevision: store.compactRevision, consistentIndex: consistentIndex))
        knownTotal = sizes.total
        uncommitted = 0
        lastCommit = instant
    }
}

/// What the v3 part of a snapshot holds, told apart by how it starts.
enum SnapshotData {
    /// The store as `MVCCStoreEncoding` writes it (in memory, and snapshots from before the file).
    case encoded([UInt8])
    /// "The store is in this member's file, at this consistent index or later."
    case marker(consistentIndex: UInt64)
    /// A copy of a backend file.
    case file([UInt8])
    /// A copy of a backend file received into a file of this member's (`SpooledState`), with
    /// the sender's note on it (a marker).
    case spooled(path: String, note: [UInt8])

    static let markerMagic = Array("etcd-swift-v3-backend\n".utf8)
    static let sqliteMagic = Array("SQLite format 3\u{0}".utf8)

    init(_ bytes: [UInt8]) {
        if let (path, note) = SpooledState.parse(bytes) {
            self = .spooled(path: path, note: note)
        } else if bytes.starts(with: Self.markerMagic) {
            var reader = ByteReader(bytes[Self.markerMagic.count...])
            self = .marker(consistentIndex: reader.u64() ?? 0)
        } else if bytes.starts(with: Self.sqliteMagic) {
            self = .file(bytes)
        } else {
            self = .encoded(bytes)
        }
    }

    func encoded() -> [UInt8] {
        switch self {
        case .encoded(let bytes), .file(let bytes): return bytes
        case .spooled(let path, let note): return SpooledState.reference(to: path, note: note)
        case .marker(let index):
            var writer = ByteWriter()
            writer.bytes = Self.markerMagic
            writer.u64(index)
            return writer.bytes
        }
    }
}
