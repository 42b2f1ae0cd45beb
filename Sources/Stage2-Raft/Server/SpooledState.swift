import BinaryCodec
import Dispatch
import RaftDisk

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A machine's state received apart from its snapshot (Stage 4's backend file), written to a
/// file as it arrived rather than held in memory: the snapshot then carries a reference to that
/// file where the state would be, and the machine takes the state from there when it restores.
/// Files live in the snapshot directory, so whatever discards the snapshots discards them.
public enum SpooledState {
    static let magic = Array("etcd-swift-spooled-state/2\n".utf8)

    /// What a snapshot carries in place of the state: the file's path, and the machine's note
    /// on what the file holds (Stage 4: the consistent index it reached), so that a missing file
    /// can be told from one already taken.
    public static func reference(to path: String, note: [UInt8]) -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes = magic
        writer.blob(Array(path.utf8))
        writer.blob(note)
        return writer.bytes
    }

    /// The path and note a reference names; nil if `bytes` is not a reference.
    public static func parse(_ bytes: [UInt8]) -> (path: String, note: [UInt8])? {
        guard bytes.starts(with: magic) else { return nil }
        var reader = ByteReader(bytes[magic.count...])
        guard let path = reader.blob(), let note = reader.blob(), reader.isAtEnd else { return nil }
        return (String(decoding: path, as: UTF8.self), note)
    }

    /// A new file name in `directory` for state being sent or received.
    static func newPath(in directory: String, _ kind: String) -> String {
        directory + "/state.\(kind)-\(UInt64.random(in: 1...UInt64.max))"
    }

    /// Removes what transfers left behind (a crash mid-stream): once a member has restored its
    /// snapshot at start, no received file is needed any more.
    static func removeLeftovers(in directory: String) {
        for name in (try? PosixFileSystem().list(directory)) ?? [] where name.hasPrefix("state.received-") || name.hasPrefix("state.sending-") {
            unlink(directory + "/" + name)
        }
    }
}

/// A state being received on one connection: its pieces are written, then synced, in order on a
/// serial queue of its own, never on the Raft loop (a large file's writes and its sync would
/// hold up ticks and heartbeats). After any failure the rest is dropped and the file removed.
final class ReceivedState: @unchecked Sendable {
    let path: String
    private let queue = DispatchQueue(label: "etcd.received-state")
    // Touched on `queue` only.
    private var writer: FileWriter?
    private var failure: SpoolError?

    init(path: String) {
        self.path = path
    }

    func append(_ bytes: [UInt8]) {
        queue.async { [self] in
            guard failure == nil else { return }
            do throws(SpoolError) {
                if writer == nil { writer = try FileWriter(path: path) }
                try writer?.write(bytes)
            } catch {
                failure = error
                writer = nil
                unlink(path)
            }
        }
    }

    /// Syncs the file once every piece is written, then calls `done` (on the queue) with the
    /// failure, if any: then the file is gone.
    func finish(_ done: @escaping @Sendable (SpoolError?) -> Void) {
        queue.async { [self] in
            if failure == nil {
                do throws(SpoolError) { try writer?.finish() } catch {
                    failure = error
                    unlink(path)
                }
                if writer == nil && failure == nil { failure = SpoolError(operation: "receive", path: path, errno: ENOENT) }
            }
            writer = nil
            done(failure)
        }
    }

    /// The connection ended before the snapshot did.
    func discard() {
        queue.async { [self] in
            writer = nil
            unlink(path)
        }
    }
}

/// Reads a file a piece at a time (POSIX, no buffering beyond the piece).
final class FileReader {
    private let descriptor: Int32
    let path: String

    init(path: String) throws(SpoolError) {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SpoolError(operation: "open", path: path, errno: errno) }
    }

    deinit { close(descriptor) }

    /// The next piece of at most `limit` bytes; nil at the end.
    func read(upTo limit: Int) throws(SpoolError) -> [UInt8]? {
        var piece = [UInt8](repeating: 0, count: limit)
        var filled = 0
        while filled < limit {
            let count = piece.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + filled, limit - filled) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw SpoolError(operation: "read", path: path, errno: errno) }
            if count == 0 { break }
            filled += count
        }
        guard filled > 0 else { return nil }
        piece.removeLast(limit - filled)
        return piece
    }

    func readAll() throws(SpoolError) -> [UInt8] {
        var bytes: [UInt8] = []
        while let piece = try read(upTo: 1 << 20) { bytes += piece }
        return bytes
    }
}

/// Writes a new file (mode 0600) as pieces arrive; `finish` syncs it to disk and closes it.
final class FileWriter {
    private var descriptor: Int32
    let path: String

    init(path: String) throws(SpoolError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SpoolError(operation: "create", path: path, errno: errno) }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    func write(_ bytes: [UInt8]) throws(SpoolError) {
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw SpoolError(operation: "write", path: path, errno: errno) }
            written += count
        }
    }

    func finish() throws(SpoolError) {
        guard fsync(descriptor) == 0 else { throw SpoolError(operation: "sync", path: path, errno: errno) }
        close(descriptor)
        descriptor = -1
    }
}

struct SpoolError: Error, CustomStringConvertible {
    var operation: String
    var path: String
    var errno: Int32
    var description: String { "cannot \(operation) \(path): \(String(cString: strerror(errno)))" }
}
