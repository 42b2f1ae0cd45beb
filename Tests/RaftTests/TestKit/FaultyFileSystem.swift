#if canImport(Glibc)
import Glibc
#endif
import Raft
import Synchronization
import RaftDisk

/// A temporary directory removed when the test is done.
final class TemporaryDirectory: Sendable {
    let path: String

    init() {
        var template = Array("/tmp/raft-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { Self.removeTree(path) }

    private static func removeTree(_ path: String) {
        if unlink(path) == 0 { return }
        for name in (try? PosixFileSystem().list(path)) ?? [] { removeTree(path + "/" + name) }
        rmdir(path)
    }
}

/// The real file system, with faults on demand: a disk that fills up partway through a write,
/// and a sync that fails; it records which files were synced.
final class FaultyFileSystem: FileSystem {
    struct Faults {
        // Bytes that may still be written before the disk is "full" (nil: unlimited).
        var bytesUntilFull: Int?
        var failSync = false
    }

    private let base = PosixFileSystem()
    let faults = Mutex(Faults())
    /// The files synced, in order.
    let synced = Mutex<[String]>([])
    /// Every write, in order: where it went and whether it was all zeros.
    let writes = Mutex<[(path: String, range: Range<Int>, isZeros: Bool)]>([])

    func createDirectory(_ path: String) throws(StorageError) { try base.createDirectory(path) }
    func list(_ directory: String) throws(StorageError) -> [String] { try base.list(directory) }
    func readFile(_ path: String) throws(StorageError) -> [UInt8] { try base.readFile(path) }
    func open(_ path: String, create: Bool) throws(StorageError) -> Int32 { try base.open(path, create: create) }
    func close(_ descriptor: Int32) { base.close(descriptor) }
    func preallocate(_ descriptor: Int32, size: Int, path: String) throws(StorageError) {
        try base.preallocate(descriptor, size: size, path: path)
    }

    func write(_ descriptor: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(StorageError) {
        let allowed = faults.withLock { faults -> Int in
            guard let room = faults.bytesUntilFull else { return bytes.count }
            let allowed = min(room, bytes.count)
            faults.bytesUntilFull = room - allowed
            return allowed
        }
        if allowed > 0 { try base.write(descriptor, Array(bytes[..<allowed]), at: offset, path: path) }
        writes.withLock { $0.append((path, offset..<(offset + allowed), bytes[..<allowed].allSatisfy { $0 == 0 })) }
        if allowed < bytes.count { throw .system("write", path, errno: ENOSPC) }
    }

    func sync(_ descriptor: Int32, path: String) throws(StorageError) {
        if faults.withLock({ $0.failSync }) { throw .system("sync", path, errno: EIO) }
        try base.sync(descriptor, path: path)
        synced.withLock { $0.append(path) }
    }

    func syncDirectory(_ path: String) throws(StorageError) { try base.syncDirectory(path) }
    func rename(_ from: String, to: String) throws(StorageError) { try base.rename(from, to: to) }
    func remove(_ path: String) throws(StorageError) { try base.remove(path) }
}

/// Reads and writes whole files for tests that damage them on purpose.
enum RawFile {
    static func read(_ path: String) -> [UInt8] { try! PosixFileSystem().readFile(path) }

    static func write(_ path: String, _ bytes: [UInt8]) {
        let descriptor = Glibc.open(path, O_WRONLY | O_TRUNC | O_CREAT, 0o600)
        precondition(descriptor >= 0)
        _ = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        Glibc.close(descriptor)
    }
}
