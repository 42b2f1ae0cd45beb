/// Raft storage on disk: the WAL and snapshot files, with a `MemoryStorage` in front that
/// serves the core's reads. This is what a member's data directory holds:
///
///     <data dir>/wal/    segments of the write-ahead log
///     <data dir>/snap/   snapshot files
///
/// Owned by one shell loop; not thread-safe.
public final class DiskStorage: RaftStorage {
    /// What the core reads: everything persisted, in memory.
    public private(set) var memory: MemoryStorage
    private let wal: WriteAheadLog
    private let snapshots: SnapshotStore
    /// What opening found and repaired, if anything (a torn last record), for the log.
    public let repairs: [String]

    private init(memory: MemoryStorage, wal: WriteAheadLog, snapshots: SnapshotStore, repairs: [String]) {
        self.memory = memory
        self.wal = wal
        self.snapshots = snapshots
        self.repairs = repairs
    }

    /// Opens the storage in `directory`, or starts it empty with membership `initialConfState`.
    public static func open(
        directory: String, initialConfState: ConfState, fileSystem: any FileSystem = PosixFileSystem(),
        segmentSize: Int = 64 << 20
    ) throws(StorageError) -> DiskStorage {
        let snapshots = try SnapshotStore(directory: directory + "/snap", fileSystem: fileSystem)
        var snapshot = try snapshots.loadNewest()
        let (wal, contents) = try WriteAheadLog.open(directory: directory + "/wal", fileSystem: fileSystem, segmentSize: segmentSize)
        if snapshot == nil && contents.entries.isEmpty && contents.hardState == HardState() {
            // A new member: the founding membership must survive a restart before the first real
            // snapshot, so it is written as a snapshot of nothing at index 0.
            let founding = Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, confState: initialConfState))
            try snapshots.save(founding)
            snapshot = founding
        }
        if contents.snapshot.index > (snapshot?.metadata.index ?? 0) {
            throw StorageError(
                "the WAL in \(directory)/wal says a snapshot covers index \(contents.snapshot.index), but the newest snapshot file "
                    + "in \(directory)/snap covers \(snapshot?.metadata.index ?? 0): the data directory is incomplete")
        }
        var memory = MemoryStorage(confState: snapshot?.metadata.confState ?? initialConfState)
        if let snapshot, snapshot.metadata.index > 0 { try? memory.applySnapshot(snapshot) }
        let floor = snapshot?.metadata.index ?? 0
        let entries = contents.entries.filter { $0.index > floor }
        if let first = entries.first, first.index != floor + 1 {
            throw StorageError("the WAL in \(directory)/wal starts at index \(first.index), after the snapshot at \(floor): entries are missing")
        }
        memory.append(entries)
        if contents.hardState.commit > memory.lastIndex() {
            throw StorageError(
                "the WAL in \(directory)/wal records commit index \(contents.hardState.commit) but holds entries only to \(memory.lastIndex()): "
                    + "the log is incomplete; restore this member from a snapshot or re-add it with an empty data directory")
        }
        memory.setHardState(contents.hardState)
        return DiskStorage(memory: memory, wal: wal, snapshots: snapshots, repairs: contents.tornTail.map { [$0] } ?? [])
    }

    /// Persists what a `Ready` asks for, durably, before anything is sent: a snapshot from the
    /// leader (file first, then the WAL marker), then entries and hard state with one sync.
    public func persist(entries: [Entry], hardState: HardState?, snapshot: Snapshot?) throws(StorageError) {
        if let snapshot {
            try snapshots.save(snapshot)
            try wal.recordSnapshot(index: snapshot.metadata.index, term: snapshot.metadata.term)
            try? memory.applySnapshot(snapshot)
        }
        try wal.append(entries, hardState: hardState)
        memory.append(entries)
        if let hardState { memory.setHardState(hardState) }
    }

    /// Takes a snapshot of the state machine at `index` (already applied), then releases the
    /// log before it, keeping `keepEntries` entries so slow followers can catch up from the log.
    public func snapshot(at index: UInt64, confState: ConfState, data: [UInt8], keepEntries: UInt64 = 5000) throws(StorageError) {
        let snapshot: Snapshot
        do { snapshot = try memory.createSnapshot(at: index, confState: confState, data: data) } catch {
            throw StorageError("cannot snapshot at index \(index): \(error)")
        }
        try snapshots.save(snapshot)
        try wal.recordSnapshot(index: index, term: snapshot.metadata.term)
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
    public func snapshot() throws(RaftError) -> Snapshot { try memory.snapshot() }
}
