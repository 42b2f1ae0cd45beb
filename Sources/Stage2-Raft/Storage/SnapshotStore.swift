import BinaryCodec
import RaftCore

/// Snapshot files: `<term>-<index>.snap` (16 hex digits each), written atomically (temporary
/// file, sync, rename, directory sync) and checksummed.
///
/// Format version 1: magic `ETCDSNAP`, u32 version, u32 CRC-32C of the body, then the body:
/// u64 index, u64 term, voters and learners (u32 count, u64 each), and the data (u32 length).
public struct SnapshotStore: Sendable {
    static let magic: [UInt8] = Array("ETCDSNAP".utf8)
    static let version: UInt32 = 1

    let directory: String
    let fileSystem: any FileSystem
    /// How many snapshot files to keep; older ones are deleted after each save.
    public var retain = 2

    /// Makes a store in `directory` (created if missing).
    public init(directory: String, fileSystem: any FileSystem = PosixFileSystem()) throws(StorageError) {
        self.directory = directory
        self.fileSystem = fileSystem
        try fileSystem.createDirectory(directory)
    }

    /// Writes a snapshot durably, then deletes all but the newest `retain` ones.
    public func save(_ snapshot: Snapshot) throws(StorageError) {
        let meta = snapshot.metadata
        var body = ByteWriter()
        body.u64(meta.index)
        body.u64(meta.term)
        body.u32(UInt32(meta.confState.voters.count))
        for voter in meta.confState.voters { body.u64(voter) }
        body.u32(UInt32(meta.confState.learners.count))
        for learner in meta.confState.learners { body.u64(learner) }
        body.blob(snapshot.data)
        var file = ByteWriter()
        file.bytes = Self.magic
        file.u32(Self.version)
        file.u32(CRC32C.checksum(body.bytes))
        file.bytes += body.bytes

        let path = directory + "/" + WALFormat.hex16(meta.term) + "-" + WALFormat.hex16(meta.index) + ".snap"
        let temporary = path + ".tmp"
        let descriptor = try fileSystem.open(temporary, create: true)
        do {
            try fileSystem.write(descriptor, file.bytes, at: 0, path: temporary)
            try fileSystem.sync(descriptor, path: temporary)
        } catch {
            fileSystem.close(descriptor)
            throw error
        }
        fileSystem.close(descriptor)
        try fileSystem.rename(temporary, to: path)
        try fileSystem.syncDirectory(directory)
        for old in try snapshotNames().dropLast(retain) { try fileSystem.remove(directory + "/" + old) }
    }

    /// The newest snapshot, or nil if there is none. A damaged newest snapshot is an error,
    /// never skipped: the log before it may already be gone.
    public func loadNewest() throws(StorageError) -> Snapshot? {
        guard let name = try snapshotNames().last else { return nil }
        return try load(directory + "/" + name)
    }

    /// The kept snapshot at `index`, or nil if there is none.
    public func load(index wanted: UInt64) throws(StorageError) -> Snapshot? {
        guard let name = try snapshotNames().last(where: { index(of: $0) == wanted }) else { return nil }
        return try load(directory + "/" + name)
    }

    private func snapshotNames() throws(StorageError) -> [String] {
        // Names sort by term, then index; a later snapshot always has a higher index.
        try fileSystem.list(directory).filter { $0.hasSuffix(".snap") }.sorted { index(of: $0) < index(of: $1) }
    }

    private func index(of name: String) -> UInt64 {
        UInt64(name.dropLast(5).split(separator: "-").last ?? "", radix: 16) ?? 0
    }

    private func load(_ path: String) throws(StorageError) -> Snapshot {
        let bytes = try fileSystem.readFile(path)
        func damaged(_ problem: String) -> StorageError {
            StorageError("snapshot \(path) is damaged: \(problem). Move it aside to fall back to the previous snapshot, "
                + "or restore this member from a healthy one")
        }
        guard bytes.count >= 16, Array(bytes[0..<8]) == Self.magic else { throw damaged("not a snapshot file (bad magic)") }
        var header = ByteReader(bytes[8..<16])
        let version = header.u32()!, checksum = header.u32()!
        guard version == Self.version else {
            throw StorageError("snapshot \(path) has format version \(version); this build reads version \(Self.version)")
        }
        guard CRC32C.checksum(bytes[16...]) == checksum else { throw damaged("checksum mismatch") }
        var body = ByteReader(bytes[16...])
        guard let index = body.u64(), let term = body.u64(), let voterCount = body.u32() else { throw damaged("truncated") }
        var voters: [NodeID] = []
        for _ in 0..<voterCount { guard let id = body.u64() else { throw damaged("truncated") }; voters.append(id) }
        guard let learnerCount = body.u32() else { throw damaged("truncated") }
        var learners: [NodeID] = []
        for _ in 0..<learnerCount { guard let id = body.u64() else { throw damaged("truncated") }; learners.append(id) }
        guard let data = body.blob(), body.isAtEnd else { throw damaged("truncated") }
        return Snapshot(metadata: SnapshotMetadata(index: index, term: term, confState: ConfState(voters: voters, learners: learners)), data: data)
    }
}
