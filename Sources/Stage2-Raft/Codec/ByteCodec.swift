// Byte codecs with no dependencies, shared by the Raft log and snapshots (RaftDisk), the peer
// frames (Raft) and Stage 4's MVCC snapshots, so none of them imports another for a helper.

/// Little-endian encoding helpers for the on-disk formats (and Stage 4's snapshots).
public struct ByteWriter {
    public var bytes: [UInt8] = []

    public init() {}

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func u32(_ value: UInt32) { for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) } }
    public mutating func u64(_ value: UInt64) { for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) } }
    public mutating func blob(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes += value
    }
}

/// Reads what `ByteWriter` wrote; every read fails cleanly past the end.
public struct ByteReader {
    public let bytes: ArraySlice<UInt8>
    public var position: Int

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    public var isAtEnd: Bool { position >= bytes.endIndex }

    public mutating func u8() -> UInt8? {
        guard position < bytes.endIndex else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func u32() -> UInt32? {
        guard position + 4 <= bytes.endIndex else { return nil }
        defer { position += 4 }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[position + $1]) << UInt32($1 * 8) }
    }

    public mutating func u64() -> UInt64? {
        guard position + 8 <= bytes.endIndex else { return nil }
        defer { position += 8 }
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[position + $1]) << UInt64($1 * 8) }
    }

    /// A blob that must be UTF-8.
    public mutating func string() -> String? { blob().flatMap { String(validating: $0, as: UTF8.self) } }

    public mutating func blob() -> [UInt8]? {
        guard let count = u32(), position + Int(count) <= bytes.endIndex else { return nil }
        defer { position += Int(count) }
        return Array(bytes[position..<position + Int(count)])
    }
}
