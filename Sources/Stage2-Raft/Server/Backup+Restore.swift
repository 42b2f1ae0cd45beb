import BinaryCodec
import RaftCore
import RaftDisk
import SingleNode

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Founding a new cluster's member from a backup (`etcd snapshot restore`): the reading side of
/// `Backup`, a piece at a time, the second machine's state copied from the saved file into the
/// new member's snapshot directory rather than into memory.
extension Backup {
    /// Why a backup cannot be restored.
    public struct RestoreError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Founds a new cluster's member from the backup in the first `length` bytes of the file at
    /// `path` (what `RaftServer.backup()` gave; whoever stored it checks its integrity: the v3 API appends a
    /// SHA-256), in an empty data directory. Every founder restores the same file with the same
    /// `--initial-cluster`, so all start from the same snapshot (the backup's stores; membership
    /// and the v1 machine list replaced by the founders) and elect a leader as a new cluster
    /// does.
    ///
    /// A second machine that keeps its state in a file of its own (Stage 4's backend) had that
    /// file copied into the backup, with its note on the copy (the index it reached, as the
    /// machine's snapshot marker says it): the copy is written to `stateFile`, where the machine
    /// opens its file, and the new member's snapshot holds the note, so the machine finds its
    /// state where it always does, whatever path the directory is later moved or mounted at.
    public static func restore(
        file path: String, length: UInt64, into directory: String, stateFile: String?, member: Member, initialCluster: [Member],
        clusterToken: String
    ) throws {
        let file = try BackupFile(path: path, length: length)
        let magic = try file.read(Backup.magic.count)
        guard magic == Backup.magic else {
            guard magic == Backup.magicFormat1 else { throw RestoreError(description: "not a snapshot saved from this etcd") }
            return try restoreFormat1(magic + file.read(Int(length) - magic.count), into: directory, member: member, initialCluster: initialCluster, clusterToken: clusterToken)
        }
        let index = try file.u64(), _ = try file.u64()
        let v1 = try file.read(try file.count(file.u64()))
        let hasState = try file.read(1)[0] == 1
        let note = try file.read(try file.count(UInt64(file.u32())))
        let stateLength = try file.length(file.u64())
        let founders = try checkTarget(directory, member: member, initialCluster: initialCluster)
        try restoring(directory) {
            var other: [UInt8]?
            if hasState && note.isEmpty {
                other = try file.read(Int(stateLength))
            } else if hasState {
                guard let stateFile else {
                    throw RestoreError(description: "this snapshot holds the v3 store's file, which this binary does not run: restore it with the full etcd")
                }
                try file.copy(stateLength, to: stateFile)
                other = note
            }
            let members = try file.u32()
            for _ in 0..<members {
                guard Member(encoded: try file.read(try file.count(UInt64(file.u32())))) != nil else { throw file.damaged }
            }
            try file.expectPaddingOnly()
            try found(v1: v1, other: other, index: index, founders: founders, member: member, into: directory, clusterToken: clusterToken)
        }
    }

    /// The founders, once the directory is known to be new (or to hold only what an
    /// interrupted restore left) and this member one of them.
    private static func checkTarget(_ directory: String, member: Member, initialCluster: [Member]) throws -> [Member] {
        let taken = RestoreError(description: "\(directory) already holds a member's data; restore into a new directory")
        guard !DataDirectory.hasLog(directory + "/wal") else { throw taken }
        // Without the marker, anything a member keeps here is a member's (its log may be in a
        // --wal-dir elsewhere), never to be cleared or overwritten by a restore.
        if access(directory + "/" + unfinishedLog, F_OK) != 0 {
            let snapshots = ((try? PosixFileSystem().list(directory + "/snap")) ?? []).filter { $0.hasSuffix(".snap") || $0 == "db" }
            let identity = ["cluster-id", "member-id"].filter { access(directory + "/" + $0, F_OK) == 0 }
            guard snapshots.isEmpty && identity.isEmpty else { throw taken }
        }
        // The log is renamed to `wal` at the end: only an empty directory may stand there now.
        var status = stat(), parent = stat()
        if lstat(directory + "/wal", &status) == 0 {
            let empty = ((try? PosixFileSystem().list(directory + "/wal")) ?? ["?"]).isEmpty
            guard (status.st_mode & S_IFMT) == S_IFDIR, stat(directory, &parent) == 0, status.st_dev == parent.st_dev, empty else {
                throw RestoreError(description: "\(directory)/wal is not an empty directory of the data directory's disk (a symlink, a mount point or files): restore into a new directory")
            }
            rmdir(directory + "/wal")
        }
        let founders = (initialCluster.isEmpty ? [member] : initialCluster).sorted { $0.name < $1.name }
        guard founders.contains(where: { $0.id == member.id }) else { throw RestoreError(description: "\(member.name) is not in --initial-cluster") }
        return founders
    }

    /// A restore builds the new member's log here and renames it to `wal` as its very last step.
    /// The directory exists from the restore's first write on, so a restore that crashed at any
    /// point leaves it behind and no log: the member refuses to start (`DataDirectory.prepare`)
    /// and the restore, run again, clears what the first one left and starts over.
    public static let unfinishedLog = "wal.restoring"

    /// Runs `body`, the restore's writes, between marking the restore begun (durably, after
    /// clearing what an interrupted one left) and its end; a restore that fails (a damaged file)
    /// takes back what it wrote.
    private static func restoring(_ directory: String, _ body: () throws -> Void) throws {
        if access(directory + "/" + unfinishedLog, F_OK) == 0 { clearUnfinished(directory) }
        let fileSystem = PosixFileSystem()
        try fileSystem.createDirectory(directory + "/" + unfinishedLog)
        try fileSystem.syncDirectory(directory)
        do {
            try body()
        } catch {
            clearUnfinished(directory)
            throw error
        }
    }

    /// What a restore writes, before its log is named; the marker goes last, once the rest is
    /// gone for good, so a crash in between still leaves it.
    private static func clearUnfinished(_ directory: String) {
        for written in ["snap", "cluster-id", "member-id"] { DataDirectory.removeTree(directory + "/" + written) }
        try? PosixFileSystem().syncDirectory(directory)
        DataDirectory.removeTree(directory + "/" + unfinishedLog)
        try? PosixFileSystem().syncDirectory(directory)
    }

    /// Writes the new member's first snapshot: the v1 store with the founders for machines,
    /// the second machine's state as given, the founders for members.
    private static func found(
        v1: [UInt8], other: [UInt8]?, index: UInt64, founders: [Member], member: Member, into directory: String, clusterToken: String
    ) throws {
        var store = try KeyStore(encoded: v1)
        let at = max(index, UInt64(founders.count))
        for machine in store.machines() { _ = store.apply(Command(.leave(name: machine.name), time: Timestamp(seconds: 0)), at: at) }
        for founder in founders {
            _ = store.apply(Command(.join(name: founder.name, raftURL: founder.peerURL, etcdURL: ""), time: Timestamp(seconds: 0)), at: at)
        }
        let conf = ConfState(voters: founders.map(\.id))
        let unfinished = directory + "/" + unfinishedLog
        let storage = try DiskStorage.open(directory: directory, walDirectory: unfinished, initialConfState: conf)
        let clusterID = ClusterIdentity.id(token: clusterToken, founders: founders)
        try ClusterIdentity.store(clusterID, in: directory)
        try ClusterIdentity.storeMemberID(member.id, in: directory)
        let data = SnapshotContainer(v1: store.encoded(), other: other, members: founders).encoded()
        let snapshot = Snapshot(metadata: SnapshotMetadata(index: at, term: 1, confState: conf), data: data)
        try storage.persist(entries: [], hardState: HardState(term: 1, vote: 0, commit: at), snapshot: snapshot)
        // Everything above is synced: the log, named now, makes the member.
        let fileSystem = PosixFileSystem()
        try fileSystem.rename(unfinished, to: directory + "/wal")
        try fileSystem.syncDirectory(directory)
    }

    /// Format 1: the whole state in one container, read into memory as it was written.
    private static func restoreFormat1(
        _ body: [UInt8], into directory: String, member: Member, initialCluster: [Member], clusterToken: String
    ) throws {
        var reader = ByteReader(body[Backup.magicFormat1.count...])
        // Whoever stored the backup may have padded it with zeros (etcdctl wants whole blocks).
        guard let index = reader.u64(), let _ = reader.u64(), let payload = reader.blob(), body[reader.position...].allSatisfy({ $0 == 0 })
        else { throw RestoreError(description: "the snapshot's header is damaged") }
        let founders = try checkTarget(directory, member: member, initialCluster: initialCluster)
        let container = try SnapshotContainer(decoding: payload)
        try restoring(directory) {
            try found(v1: container.v1, other: container.other, index: index, founders: founders, member: member, into: directory, clusterToken: clusterToken)
        }
    }
}

/// A saved backup read in order, every length checked against what is left before trusting it.
private final class BackupFile {
    let reader: FileReader
    private var left: UInt64
    let damaged = Backup.RestoreError(description: "the snapshot is damaged or truncated (a length points past its end)")

    init(path: String, length: UInt64) throws {
        reader = try FileReader(path: path)
        left = length
    }

    /// Exactly `count` bytes.
    func read(_ count: Int) throws -> [UInt8] {
        guard count >= 0, UInt64(count) <= left else { throw damaged }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            guard let piece = try reader.read(upTo: count - bytes.count) else { throw damaged }
            bytes += piece
        }
        left -= UInt64(count)
        return bytes
    }

    /// The next `count` bytes into a new file at `path`, synced, then renamed into place and
    /// its directory synced: a crash leaves either no file there or the whole copy. (A restore
    /// run again overwrites it.)
    func copy(_ count: UInt64, to path: String) throws {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let fileSystem = PosixFileSystem()
        if !directory.isEmpty { try fileSystem.createDirectory(directory) }
        let partial = path + ".restoring"
        do {
            let writer = try FileWriter(path: partial)
            var left = count
            while left > 0 {
                let piece = try read(Int(min(left, 1 << 20)))
                try writer.write(piece)
                left -= UInt64(piece.count)
            }
            try writer.finish()
            try fileSystem.rename(partial, to: path)
            try fileSystem.syncDirectory(directory.isEmpty ? "." : directory)
        } catch {
            unlink(partial)
            throw error
        }
    }

    /// A length read from the file, if it fits in what is left.
    func length(_ value: UInt64) throws -> UInt64 {
        guard value <= left else { throw damaged }
        return value
    }

    /// The same, as a count of bytes to read.
    func count(_ value: UInt64) throws -> Int { Int(try length(value)) }

    func u64() throws -> UInt64 {
        var reader = ByteReader(try read(8)[...])
        return reader.u64()!
    }

    func u32() throws -> UInt32 {
        var reader = ByteReader(try read(4)[...])
        return reader.u32()!
    }

    /// The rest is the zeros etcdctl's whole blocks added, and nothing else.
    func expectPaddingOnly() throws {
        while left > 0 {
            guard try read(Int(min(left, 1 << 16))).allSatisfy({ $0 == 0 }) else {
                throw Backup.RestoreError(description: "the snapshot has bytes after its end: it is damaged")
            }
        }
    }
}
