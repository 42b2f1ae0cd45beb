import Crypto
import Foundation

/// A saved snapshot as `etcdctl snapshot save` writes it: the member's backup, zeros to whole
/// 512-byte blocks, then the SHA-256 of all that, as etcd's Snapshot stream ends with the
/// checksum of the database it sent. Both directions go a piece at a time: a saved store may be
/// gigabytes.
public enum SnapshotFile {
    public struct DamagedError: Error, CustomStringConvertible {
        public var description: String
    }

    /// etcd's database is whole pages, and etcdctl checks that a saved file is some 512-byte
    /// blocks then the 32-byte checksum: the backup is followed by zeros to whole blocks (the
    /// restore reads its own lengths, so the padding is ignored).
    static func padding(after length: UInt64) -> Int { Int((512 - length % 512) % 512) }

    /// The length of the backup and padding in the saved file at `path`, once the SHA-256 at
    /// its end is verified (read in pieces of `pieceSize`).
    public static func verify(_ path: String, pieceSize: Int = 1 << 20) throws -> UInt64 {
        guard let file = FileHandle(forReadingAtPath: path) else {
            throw DamagedError(description: "cannot open \(path)")
        }
        defer { try? file.close() }
        let size = try file.seekToEnd()
        guard size > 32 else { throw DamagedError(description: "the file is too short to be a snapshot (\(size) bytes)") }
        try file.seek(toOffset: 0)
        var hash = SHA256()
        var left = size - 32
        while left > 0 {
            guard let piece = try file.read(upToCount: Int(min(UInt64(pieceSize), left))), !piece.isEmpty else {
                throw DamagedError(description: "\(path) ended while being read")
            }
            hash.update(data: piece)
            left -= UInt64(piece.count)
        }
        let stored = try file.readToEnd() ?? Data()
        guard Array(hash.finalize()) == Array(stored) else {
            throw DamagedError(description: "the snapshot's SHA-256 does not match its contents: the file is damaged or truncated")
        }
        return size - 32
    }
}
