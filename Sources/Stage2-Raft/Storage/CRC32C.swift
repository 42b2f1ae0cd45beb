/// CRC-32C (Castagnoli), the checksum of every WAL record and snapshot file. Table-driven,
/// one table of 256 entries; fast enough that the WAL's sync, not its checksum, sets the pace.
public enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { byte in
        var crc = UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// Extends `crc` (start from 0) with `bytes`.
    public static func update(_ crc: UInt32, _ bytes: some Sequence<UInt8>) -> UInt32 {
        var value = ~crc
        table.withUnsafeBufferPointer { table in
            for byte in bytes { value = table[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8) }
        }
        return ~value
    }

    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 { update(0, bytes) }
}

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

    public mutating func blob() -> [UInt8]? {
        guard let count = u32(), position + Int(count) <= bytes.endIndex else { return nil }
        defer { position += Int(count) }
        return Array(bytes[position..<position + Int(count)])
    }
}
