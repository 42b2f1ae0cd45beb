import BinaryCodec

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A member's backup, as `etcdctl snapshot save` fetches it and `etcd snapshot restore` founds a
/// new cluster from it: never whole in memory. The machine's state (Stage 4's backend file, up to
/// the whole quota and beyond) stays in the file it was copied into and is read a piece at a
/// time; only the v1 store and the member table, which are small, are held.
///
/// Format 2 (format 1, one blob of a snapshot container, is still restored):
///
///     "etcd-swift-backup/2\n"  u64 index  u64 term
///     u64 length, the v1 store
///     u8 has state (0: a member without a second machine)
///     u32 length, the machine's note on its state (Stage 4: the index its file reached;
///         empty: the state is the machine's own encoding, restored from memory)
///     u64 length, the state
///     u32 count, the members then (each a length-prefixed `Member` encoding)
///
/// Lengths are 64-bit where a store may pass 4 GiB.
public final class Backup: Sendable {
    static let magic: [UInt8] = Array("etcd-swift-backup/2\n".utf8)
    static let magicFormat1: [UInt8] = Array("etcd-swift-backup/1\n".utf8)

    /// Bytes in all.
    public let length: UInt64
    let head: [UInt8]
    let statePath: String?
    let stateLength: UInt64
    let tail: [UInt8]

    init(index: UInt64, term: UInt64, v1: [UInt8], state: (path: String, length: UInt64, note: [UInt8])?, members: [Member]) {
        var head = ByteWriter()
        head.bytes = Self.magic
        head.u64(index)
        head.u64(term)
        head.u64(UInt64(v1.count))
        head.bytes += v1
        head.u8(state == nil ? 0 : 1)
        head.blob(state?.note ?? [])
        head.u64(state?.length ?? 0)
        var tail = ByteWriter()
        tail.u32(UInt32(members.count))
        for member in members.sorted(by: { $0.id < $1.id }) { tail.blob(member.encoded) }
        self.head = head.bytes
        self.tail = tail.bytes
        statePath = state?.path
        stateLength = state?.length ?? 0
        length = UInt64(head.bytes.count) + stateLength + UInt64(tail.bytes.count)
    }

    /// The bytes in order, a piece at a time.
    public func reader() throws -> Reader { try Reader(self) }

    /// Removes the copy of the state (once sent, or abandoned).
    public func discard() {
        if let statePath { unlink(statePath) }
    }

    /// All of it (tests, and small stores).
    public func bytes() throws -> [UInt8] {
        let reader = try reader()
        var all: [UInt8] = []
        while let piece = try reader.next(upTo: 1 << 20) { all += piece }
        return all
    }

    /// Reads a backup's sections as one stream.
    public final class Reader {
        private var sections: [Section]
        private enum Section {
            case bytes([UInt8], from: Int)
            case file(FileReader, remaining: UInt64)
        }

        init(_ backup: Backup) throws {
            sections = [.bytes(backup.head, from: 0)]
            if let path = backup.statePath {
                do { sections.append(.file(try FileReader(path: path), remaining: backup.stateLength)) } catch { throw error }
            }
            sections.append(.bytes(backup.tail, from: 0))
        }

        /// The next piece, at most `limit` bytes (pieces may end at a section's end); nil at
        /// the end. A state file shorter than recorded is an error, not a short backup.
        public func next(upTo limit: Int) throws -> [UInt8]? {
            while let section = sections.first {
                switch section {
                case .bytes(let bytes, let from):
                    guard from < bytes.count else {
                        sections.removeFirst()
                        continue
                    }
                    // An offset, not a shrinking copy: the head holds the whole v1 store.
                    let end = min(from + limit, bytes.count)
                    sections[0] = .bytes(bytes, from: end)
                    return Array(bytes[from..<end])
                case .file(let file, let remaining):
                    guard remaining > 0 else {
                        sections.removeFirst()
                        continue
                    }
                    guard let piece = try file.read(upTo: Int(min(UInt64(limit), remaining))) else {
                        throw SpoolError(operation: "read all of", path: file.path, errno: EIO)
                    }
                    sections[0] = .file(file, remaining: remaining - UInt64(piece.count))
                    return piece
                }
            }
            return nil
        }
    }
}
