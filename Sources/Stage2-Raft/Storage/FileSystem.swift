#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed file operation: what was attempted, on which file, and the system's reason.
public struct StorageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A sentence naming the file, the problem and, where there is one, the fix.
    public var description: String

    /// Makes an error with its message.
    public init(_ description: String) { self.description = description }

    /// An error from a system call, with the system's text for `errno`.
    public static func system(_ operation: String, _ path: String, errno code: Int32) -> StorageError {
        StorageError("\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))")
    }
}

/// The file operations the WAL and snapshot store need, behind a protocol so that tests can
/// inject short writes (a full disk) and failing syncs.
public protocol FileSystem: Sendable {
    func createDirectory(_ path: String) throws(StorageError)
    func list(_ directory: String) throws(StorageError) -> [String]
    func readFile(_ path: String) throws(StorageError) -> [UInt8]
    /// Opens for writing, creating the file if asked; returns a descriptor.
    func open(_ path: String, create: Bool) throws(StorageError) -> Int32
    func close(_ descriptor: Int32)
    /// Reserves `size` bytes so appends never have to grow the file (and its metadata).
    func preallocate(_ descriptor: Int32, size: Int, path: String) throws(StorageError)
    /// Writes all of `bytes` at `offset`, or throws.
    func write(_ descriptor: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(StorageError)
    /// Makes written data durable (`fdatasync`).
    func sync(_ descriptor: Int32, path: String) throws(StorageError)
    /// Makes a directory's entries durable, after creating, renaming or removing files in it.
    func syncDirectory(_ path: String) throws(StorageError)
    func rename(_ from: String, to: String) throws(StorageError)
    func remove(_ path: String) throws(StorageError)
}

/// The real thing: POSIX calls.
public struct PosixFileSystem: FileSystem {
    /// Makes the POSIX file system.
    public init() {}

    /// Each directory made is synced into its parent: a directory's name is on disk only once
    /// the parent is, and a log whose directory a power cut took is every acknowledged write
    /// lost (etcd syncs the parent of its new WAL directory for the same reason).
    public func createDirectory(_ path: String) throws(StorageError) {
        var components: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            components.append(String(part))
            let prefix = components.joined(separator: "/")
            if prefix.isEmpty { continue }
            if mkdir(prefix, 0o700) == 0 {
                var parent = components.count > 1 ? components.dropLast().joined(separator: "/") : "."
                if parent.isEmpty { parent = "/" }
                let descriptor = Glibc.open(parent, O_RDONLY | O_DIRECTORY)
                // A parent we may write into but not read (mode 0300) cannot be opened to sync.
                guard descriptor >= 0 else {
                    if errno == EACCES { continue }
                    throw .system("open directory", parent, errno: errno)
                }
                defer { Glibc.close(descriptor) }
                guard fsync(descriptor) == 0 else { throw .system("sync directory", parent, errno: errno) }
            } else if errno != EEXIST {
                throw .system("create directory", prefix, errno: errno)
            }
        }
    }

    public func list(_ directory: String) throws(StorageError) -> [String] {
        guard let handle = opendir(directory) else { throw .system("list", directory, errno: errno) }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func readFile(_ path: String) throws(StorageError) -> [UInt8] {
        let descriptor = Glibc.open(path, O_RDONLY)
        guard descriptor >= 0 else { throw .system("open", path, errno: errno) }
        defer { Glibc.close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system("read", path, errno: errno)
            }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
        }
    }

    public func open(_ path: String, create: Bool) throws(StorageError) -> Int32 {
        let descriptor = Glibc.open(path, O_WRONLY | O_CLOEXEC | (create ? O_CREAT : 0), 0o600)
        guard descriptor >= 0 else { throw .system("open", path, errno: errno) }
        return descriptor
    }

    public func close(_ descriptor: Int32) { _ = Glibc.close(descriptor) }

    public func preallocate(_ descriptor: Int32, size: Int, path: String) throws(StorageError) {
        let result = posix_fallocate(descriptor, 0, off_t(size))
        guard result == 0 else { throw .system("preallocate \(size) bytes for", path, errno: result) }
    }

    public func write(_ descriptor: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(StorageError) {
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                pwrite(descriptor, buffer.baseAddress! + written, buffer.count - written, off_t(offset + written))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system("write", path, errno: errno)
            }
            written += count
        }
    }

    public func sync(_ descriptor: Int32, path: String) throws(StorageError) {
        guard fdatasync(descriptor) == 0 else { throw .system("sync", path, errno: errno) }
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        let descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY)
        guard descriptor >= 0 else { throw .system("open directory", path, errno: errno) }
        defer { Glibc.close(descriptor) }
        guard fsync(descriptor) == 0 else { throw .system("sync directory", path, errno: errno) }
    }

    public func rename(_ from: String, to: String) throws(StorageError) {
        guard Glibc.rename(from, to) == 0 else { throw .system("rename \(from) to", to, errno: errno) }
    }

    public func remove(_ path: String) throws(StorageError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw .system("remove", path, errno: errno) }
    }
}
