import RaftCore

/// Raft storage on disk: the WAL and snapshot files, with a `MemoryStorage` in front that
/// serves the core's reads. This is what a member's data directory holds:
///
///     <data dir>/wal/    segments of the write-ahead log (or `--wal-dir`, e.g. on a disk of
///                        its own, so that log syncs do not queue behind snapshot writes)
///     <data dir>/snap/   snapshot files
///
/// The newest snapshot's bytes are not kept in memory: the state machine already holds what
/// they encode, so keeping both would double a member's memory for as long as it runs. They are
/// read back from the snapshot file (and its checksum verified) when the core asks for them, to
/// send a follower that is behind, and dropped with `releaseSnapshotData()`.
///
/// Owned by one shell loop; not thread-safe.
public final class DiskStorage: RaftStorage {
    /// What the core reads: everything persisted, in memory, but the snapshot's bytes.
    public private(set) var memory: MemoryStorage
    // The newest snapshot's bytes while someone needs them (see `snapshot()`).
    private var snapshotData: [UInt8]?
    /// Why the newest snapshot file could not be read back, if it could not (for the log).
    public private(set) var snapshotReadError: StorageError?
    private let wal: WriteAheadLog
    private let snapshots: SnapshotStore
    /// What opening found and repaired, if anything (a torn last record), for the log.
    public let repairs: [String]
    /// Told how long each WAL sync took (see `WriteAheadLog.syncObserver`).
    public var walSyncObserver: ((Duration) -> Void)? {
        get { wal.syncObserver }
        set { wal.syncObserver = newValue }
    }

    private init(memory: MemoryStorage, wal: WriteAheadLog, snapshots: SnapshotStore, repairs: [String]) {
        self.memory = memory
        self.wal = wal
        self.snapshots = snapshots
        self.repairs = repairs
    }

    /// Opens the storage in `directory` (the WAL in `walDirectory` if given, else in
    /// `directory/wal`), or starts it empty with membership `initialConfState`.
    public static func open(
        directory: String, walDirectory: String? = nil, initialConfState: ConfState, fileSystem: any FileSystem = PosixFileSystem(),
        segmentSize: Int = 64 << 20
    ) throws(StorageError) -> DiskStorage {
        let snapshots = try SnapshotStore(directory: directory + "/snap", fileSystem: fileSystem)
        var snapshot = try snapshots.loadNewest()
        let walDirectory = walDirectory ?? directory + "/wal"
        let (wal, contents) = try WriteAheadLog.open(directory: walDirectory, fileSystem: fileSystem, segmentSize: segmentSize)
        if snapshot == nil && contents.entries.isEmpty && contents.hardState == HardState() {
            // A new member: the founding membership must survive a restart before the first real
            // snapshot, so it is written as a snapshot of nothing at index 0.
            let founding = Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, confState: initialConfState))
            try snapshots.save(founding)
            snapshot = founding
        }
        if contents.snapshot.index > (snapshot?.metadata.index ?? 0) {
            throw StorageError(
                "the WAL in \(walDirectory) says a snapshot covers index \(contents.snapshot.index), but the newest snapshot file "
                    + "in \(directory)/snap covers \(snapshot?.metadata.index ?? 0): the data directory is incomplete")
        }
        var memory = MemoryStorage(confState: snapshot?.metadata.confState ?? initialConfState)
        if let snapshot, snapshot.metadata.index > 0 { try? memory.applySnapshot(snapshot.withoutData) }
        let floor = snapshot?.metadata.index ?? 0
        let entries = contents.entries.filter { $0.index > floor }
        if let first = entries.first, first.index != floor + 1 {
            throw StorageError("the WAL in \(walDirectory) starts at index \(first.index), after the snapshot at \(floor): entries are missing")
        }
        memory.append(entries)
        if contents.hardState.commit > memory.lastIndex() {
            throw StorageError(
                "the WAL in \(walDirectory) records commit index \(contents.hardState.commit) but holds entries only to \(memory.lastIndex()): "
                    + "the log is incomplete; restore this member from a snapshot or re-add it with an empty data directory")
        }
        memory.setHardState(contents.hardState)
        let storage = DiskStorage(memory: memory, wal: wal, snapshots: snapshots, repairs: contents.tornTail.map { [$0] } ?? [])
        // Read once already: kept for the shell to restore its state machine from.
        storage.snapshotData = snapshot?.data
        return storage
    }

    /// Persists what a `Ready` asks for, durably, before anything is sent: a snapshot from the
    /// leader (file first, then the WAL marker), then entries and hard state with one sync.
    public func persist(entries: [Entry], hardState: HardState?, snapshot: Snapshot?) throws(StorageError) {
        if let snapshot {
            try snapshots.save(snapshot)
            try wal.recordSnapshot(index: snapshot.metadata.index, term: snapshot.metadata.term)
            try? memory.applySnapshot(snapshot.withoutData)
            snapshotData = nil
        }
        try wal.append(entries, hardState: hardState)
        memory.append(entries)
        if let hardState { memory.setHardState(hardState) }
    }

    /// Takes a snapshot of the state machine at `index` (already applied), then releases the
    /// log before it, keeping `keepEntries` entries so slow followers can catch up from the log.
    public func snapshot(at index: UInt64, confState: ConfState, data: [UInt8], keepEntries: UInt64 = 5000) throws(StorageError) {
        // The file first, made on a copy of the in-memory log (copy-on-write: only the snapshot
        // field differs): that log must never name a snapshot the disk does not hold, since
        // `snapshot()` reads the bytes back from there.
        var prospective = memory
        let snapshot: Snapshot
        do { snapshot = try prospective.createSnapshot(at: index, confState: confState, data: data) } catch {
            throw StorageError("cannot snapshot at index \(index): \(error)")
        }
        try snapshots.save(snapshot)
        try wal.recordSnapshot(index: index, term: snapshot.metadata.term)
        _ = try? memory.createSnapshot(at: index, confState: confState, data: [])
        snapshotData = nil
        if index > keepEntries { try? memory.compact(through: index - keepEntries) }
    }

    /// The WAL's segment files, oldest first.
    public var walSegments: [String] { wal.segmentPaths }
    /// How many syncs the WAL has done.
    public var syncCount: Int { wal.syncCount }

    // MARK: RaftStorage

    public func initialState() -> (HardState, ConfState) { memory.initialState() }
    public func entries(_ low: UInt64, _ high: UInt64, maxBytes: Int) throws(RaftError) -> [Entry] {
        try memory.entries(low, high, maxBytes: maxBytes)
    }
    public func term(_ index: UInt64) throws(RaftError) -> UInt64 { try memory.term(index) }
    public func firstIndex() -> UInt64 { memory.firstIndex() }
    public func lastIndex() -> UInt64 { memory.lastIndex() }
    /// The newest snapshot, its bytes read back from its file (checksum verified) unless they
    /// are still held from an earlier call. A file that cannot be read is reported through
    /// `snapshotReadError` and the snapshot is unavailable: never sent damaged.
    public func snapshot() throws(RaftError) -> Snapshot {
        var snapshot = try memory.snapshot()
        guard snapshot.metadata.index > 0 else { return snapshot }
        if snapshotData == nil {
            do throws(StorageError) {
                guard let stored = try snapshots.load(index: snapshot.metadata.index) else {
                    throw StorageError("no snapshot file for index \(snapshot.metadata.index)")
                }
                snapshotData = stored.data
            } catch {
                snapshotReadError = error
                throw .snapshotTemporarilyUnavailable
            }
        }
        snapshot.data = snapshotData ?? []
        return snapshot
    }

    /// The newest snapshot's index, term and membership, without reading its bytes.
    public var snapshotMetadata: SnapshotMetadata { memory.snapshotMetadata }

    /// Drops the snapshot's bytes read back for `snapshot()`: called when nothing is being sent
    /// from them (a stream to a follower holds its own reference while it runs).
    public func releaseSnapshotData() {
        snapshotData = nil
    }

    /// Takes the last snapshot read error, to log it once.
    public func takeSnapshotReadError() -> StorageError? {
        defer { snapshotReadError = nil }
        return snapshotReadError
    }
}

extension Snapshot {
    /// The same snapshot with its bytes left out (they stay in the snapshot file).
    var withoutData: Snapshot { Snapshot(metadata: metadata) }
}
