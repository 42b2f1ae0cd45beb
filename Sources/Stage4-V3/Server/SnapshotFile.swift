import Crypto

/// A saved snapshot as `etcdctl snapshot save` writes it: the member's backup followed by the
/// SHA-256 of it, as etcd's Snapshot stream ends with the checksum of the database it sent.
public enum SnapshotFile {
    public struct DamagedError: Error, CustomStringConvertible {
        public var description: String
    }

    /// etcd's database is whole pages, and etcdctl checks that a saved file is some 512-byte
    /// blocks then the 32-byte checksum: the backup is padded with zeros to whole blocks (the
    /// restore reads its own length, so the padding is ignored).
    static func padded(_ backup: [UInt8]) -> [UInt8] {
        backup + [UInt8](repeating: 0, count: (512 - backup.count % 512) % 512)
    }

    /// The checksum the stream ends with.
    static func checksum(_ body: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: body)) }

    /// The backup inside a saved file, once its checksum is verified.
    public static func open(_ file: [UInt8]) throws -> [UInt8] {
        guard file.count > 32 else { throw DamagedError(description: "the file is too short to be a snapshot (\(file.count) bytes)") }
        let body = Array(file[..<(file.count - 32)])
        guard checksum(body) == Array(file[(file.count - 32)...]) else {
            throw DamagedError(description: "the snapshot's SHA-256 does not match its contents: the file is damaged or truncated")
        }
        return body
    }
}
