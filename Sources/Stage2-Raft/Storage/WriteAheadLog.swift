import RaftCore

/// The durable log: Raft entries, hard state and snapshot markers, appended in batches with one
/// `fdatasync` per batch (see `WALFormat` for the bytes).
///
/// Owned by one shell loop; not thread-safe. After any failed write or sync it refuses all
/// further work: once a sync has failed, the kernel may have dropped the dirty pages, and only
/// rereading the disk after a restart tells what survived.
public final class WriteAheadLog {
    /// What the log held when it was opened.
    public struct Contents: Sendable, Equatable {
        /// The last hard state recorded.
        public var hardState = HardState()
        /// The last snapshot marker: entries up to it are in a snapshot file.
        public var snapshot: (index: UInt64, term: UInt64) = (0, 0)
        /// The entries after the snapshot, in order, with overwritten suffixes already removed.
        public var entries: [Entry] = []
        /// If the last record was torn by a crash mid-write: where, and how many bytes were cut.
        public var tornTail: String?

        /// An empty log.
        public init() {}

        public static func == (lhs: Contents, rhs: Contents) -> Bool {
            lhs.hardState == rhs.hardState && lhs.snapshot == rhs.snapshot && lhs.entries == rhs.entries
                && lhs.tornTail == rhs.tornTail
        }
    }

    private struct Segment {
        var sequence: UInt64
        var firstIndex: UInt64
        var path: String
    }

    private let directory: String
    let fileSystem: any FileSystem
    private let segmentSize: Int
    private var segments: [Segment] = []
    private var descriptor: Int32 = -1
    // Where the next record goes in the newest segment.
    private(set) var offset = 0
    // The newest segment holds written bytes (records, or the zeros `fillAhead` put ahead of
    // them) up to here: records written below it are overwrites.
    private(set) var filledEnd = 0
    private var lastIndex: UInt64 = 0
    private var hardState = HardState()
    private var snapshot: (index: UInt64, term: UInt64) = (0, 0)
    private var failure: StorageError?
    /// How many syncs the log has done (for benchmarks and tests).
    public private(set) var syncCount = 0
    /// Told how long each sync took. The shell records it as etcd's
    /// `etcd_disk_wal_fsync_duration_seconds`; the log itself knows nothing of metrics.
    public var syncObserver: ((Duration) -> Void)?
    // The current segment ends in bytes written without a sync (a commit index that moved alone).
    private var hasUnsyncedTail = false

    private init(directory: String, fileSystem: any FileSystem, segmentSize: Int) {
        self.directory = directory
        self.fileSystem = fileSystem
        self.segmentSize = segmentSize
    }

    deinit { if descriptor >= 0 { fileSystem.close(descriptor) } }

    /// Opens (or creates) the log in `directory`, replaying it. A torn last record is cut off
    /// and reported in `Contents.tornTail`; any other damage is an error that names the file.
    /// `segmentSize` is how much each segment file preallocates (64 MiB by default).
    public static func open(
        directory: String, fileSystem: any FileSystem = PosixFileSystem(), segmentSize: Int = 64 << 20
    ) throws(StorageError) -> (WriteAheadLog, Contents) {
        let log = WriteAheadLog(directory: directory, fileSystem: fileSystem, segmentSize: segmentSize)
        try fileSystem.createDirectory(directory)
        for name in try fileSystem.list(directory) where name.hasSuffix(".wal.tmp") {
            // A segment whose creation did not finish: it never held a record.
            try fileSystem.remove(directory + "/" + name)
        }
        log.segments = try fileSystem.list(directory).compactMap { name in
            WALFormat.parseSegmentName(name).map { Segment(sequence: $0.sequence, firstIndex: $0.firstIndex, path: directory + "/" + name) }
        }.sorted { $0.sequence < $1.sequence }
        var contents = Contents()
        for (position, segment) in log.segments.enumerated() {
            let isLast = position == log.segments.count - 1
            let end = try log.replaySegment(path: segment.path, sequence: segment.sequence, isLast: isLast, into: &contents)
            if isLast { log.offset = end }
        }
        log.hardState = contents.hardState
        log.snapshot = contents.snapshot
        log.lastIndex = contents.entries.last?.index ?? contents.snapshot.index
        if let last = log.segments.last {
            log.descriptor = try fileSystem.open(last.path, create: false)
            log.filledEnd = log.offset
        } else {
            try log.cutSegment()
        }
        return (log, contents)
    }

    /// Appends entries and, if given, a hard state, as one batch with at most one sync. Entries
    /// may start at or below the last index: a new leader overwrote them, and replay honours that.
    ///
    /// The batch is synced if it holds entries or a new term or vote (etcd's `wal.MustSync`). A
    /// hard state whose commit index alone moved is written without one: the commit index is
    /// recoverable (a restarted member learns it again from the leader), and every entry it
    /// covers was synced before anyone counted it. On one member this halves the syncs per
    /// write, which are otherwise two in a row: the entry, then its commit. A power cut may then
    /// lose that record's sector while a later write's survives (its sync never finished):
    /// replay cuts the log there as torn rather than refusing it as corrupt.
    public func append(_ entries: [Entry], hardState newState: HardState?) throws(StorageError) {
        if let failure { throw StorageError("the WAL in \(directory) stopped accepting writes after an earlier failure (\(failure)); restart the member to recover from what is on disk") }
        guard !entries.isEmpty || newState != nil else { return }
        var batch: [UInt8] = []
        batch.reserveCapacity(entries.reduce(64) { $0 + $1.data.count + 40 })
        for entry in entries { WALFormat.encode(entry, into: &batch) }
        if let newState { WALFormat.encode(newState, into: &batch) }
        if offset + batch.count > segmentSize && offset > WALFormat.headerSize + 128 {
            try guarded { () throws(StorageError) in try cutSegment(firstIndex: entries.first?.index) }
        }
        let mustSync = !entries.isEmpty || newState.map { $0.term != hardState.term || $0.vote != hardState.vote } ?? false
        try guarded { () throws(StorageError) in
            try fillAhead(through: offset + batch.count)
            try fileSystem.write(descriptor, batch, at: offset, path: segments.last!.path)
            if mustSync {
                try timedSync()
            }
        }
        if mustSync { syncCount += 1 }
        hasUnsyncedTail = !mustSync
        offset += batch.count
        if let last = entries.last { lastIndex = last.index }
        if let newState { hardState = newState }
    }

    private func timedSync() throws(StorageError) {
        let start = ContinuousClock.now
        defer { syncObserver?(ContinuousClock.now - start) }
        try fileSystem.sync(descriptor, path: segments.last!.path)
    }

    /// Records that a snapshot now covers everything up to `index`, then deletes segments
    /// holding only entries it covers.
    public func recordSnapshot(index: UInt64, term: UInt64) throws(StorageError) {
        if let failure { throw StorageError("the WAL in \(directory) stopped accepting writes after an earlier failure (\(failure))") }
        var batch: [UInt8] = []
        WALFormat.encodeSnapshotMarker(index: index, term: term, into: &batch)
        try guarded { () throws(StorageError) in
            try fillAhead(through: offset + batch.count)
            try fileSystem.write(descriptor, batch, at: offset, path: segments.last!.path)
            try timedSync()
        }
        syncCount += 1
        hasUnsyncedTail = false
        offset += batch.count
        snapshot = (index, term)
        lastIndex = max(lastIndex, index)
        // Segment k holds only covered entries if the next one starts at or before index + 1.
        var released = false
        while segments.count > 1 && segments[1].firstIndex <= index + 1 {
            try fileSystem.remove(segments.removeFirst().path)
            released = true
        }
        if released { try fileSystem.syncDirectory(directory) }
    }

    /// The segment files, oldest first (for tests and operators).
    public var segmentPaths: [String] { segments.map(\.path) }

    /// How far ahead of the records `fillAhead` writes zeros, in one go.
    static let fillChunk = 1 << 20
    private static let zeros = [UInt8](repeating: 0, count: fillChunk)

    /// Writes zeros ahead of the records, a chunk at a time, so that records land on blocks
    /// already written. A preallocated block reads as zeros but is marked unwritten: the first
    /// write into it changes the file's block map, and `fdatasync` must then write the inode
    /// too, a second disk write on every sync (on this project's ext4 disk, syncs took 40%
    /// longer). Once per chunk the sync carries the zeros and the map change instead.
    private func fillAhead(through end: Int) throws(StorageError) {
        guard end > filledEnd else { return }
        let from = max(filledEnd, offset)
        let to = max(end, min(from + Self.fillChunk, segmentSize))
        try writeZeros(descriptor, from: from, to: to, path: segments.last!.path)
        filledEnd = to
    }

    private func writeZeros(_ file: Int32, from: Int, to: Int, path: String) throws(StorageError) {
        var position = from
        while position < to {
            let count = min(Self.zeros.count, to - position)
            try fileSystem.write(file, count == Self.zeros.count ? Self.zeros : Array(Self.zeros[..<count]), at: position, path: path)
            position += count
        }
    }

    private func guarded(_ body: () throws(StorageError) -> Void) throws(StorageError) {
        do { try body() } catch {
            failure = error
            throw error
        }
    }

    /// Starts a new segment: created under a temporary name, preallocated, given its header and
    /// the current hard state and snapshot marker, synced, then renamed and the directory synced.
    private func cutSegment(firstIndex: UInt64? = nil) throws(StorageError) {
        // Only the newest segment may end torn (replay repairs that); an older one must be whole.
        if hasUnsyncedTail {
            try fileSystem.sync(descriptor, path: segments.last!.path)
            syncCount += 1
            hasUnsyncedTail = false
        }
        let sequence = (segments.last?.sequence ?? 0) + 1
        let first = firstIndex ?? lastIndex + 1
        let name = WALFormat.segmentName(sequence: sequence, firstIndex: first)
        let path = directory + "/" + name
        let temporary = path + ".tmp"
        let fresh = try fileSystem.open(temporary, create: true)
        var start = WALFormat.header(sequence: sequence)
        WALFormat.encode(hardState, into: &start)
        if snapshot.index > 0 { WALFormat.encodeSnapshotMarker(index: snapshot.index, term: snapshot.term, into: &start) }
        do {
            try fileSystem.preallocate(fresh, size: max(segmentSize, start.count), path: temporary)
            try fileSystem.write(fresh, start, at: 0, path: temporary)
            // The first chunk of zeros rides on this sync rather than on a client's write.
            try writeZeros(fresh, from: start.count, to: max(start.count, min(Self.fillChunk, segmentSize)), path: temporary)
            try fileSystem.sync(fresh, path: temporary)
            try fileSystem.rename(temporary, to: path)
            try fileSystem.syncDirectory(directory)
        } catch {
            fileSystem.close(fresh)
            throw error
        }
        if descriptor >= 0 { fileSystem.close(descriptor) }
        descriptor = fresh
        offset = start.count
        filledEnd = max(start.count, min(Self.fillChunk, segmentSize))
        segments.append(Segment(sequence: sequence, firstIndex: first, path: path))
    }
}
