import BinaryCodec
import RaftCore

/// The WAL's on-disk format, version 1.
///
/// A segment file is named `<sequence>-<first index>.wal` (16 hex digits each) and starts with
/// a 24-byte header: the magic `ETCDSWAL`, the format version (u32), the sequence number (u64)
/// and a CRC-32C of those 20 bytes. Records follow, each:
///
///     u32 length of (type + payload)   u32 CRC-32C of (type + payload)   u8 type   payload
///
/// all little-endian. Segments are preallocated with zeros, so a length of 0 marks the end.
/// Every segment begins with the hard state and the snapshot marker current when it was cut,
/// so old segments can be deleted without losing either.
public enum WALFormat {
    static let magic: [UInt8] = Array("ETCDSWAL".utf8)
    static let version: UInt32 = 1
    static let headerSize = 24
    static let recordHeaderSize = 8

    enum RecordType: UInt8 {
        case entry = 1
        case hardState = 2
        case snapshot = 3
    }

    public static func header(sequence: UInt64) -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes = magic
        writer.u32(version)
        writer.u64(sequence)
        writer.u32(CRC32C.checksum(writer.bytes))
        return writer.bytes
    }

    public static func segmentName(sequence: UInt64, firstIndex: UInt64) -> String {
        hex16(sequence) + "-" + hex16(firstIndex) + ".wal"
    }

    static func parseSegmentName(_ name: String) -> (sequence: UInt64, firstIndex: UInt64)? {
        guard name.hasSuffix(".wal") else { return nil }
        let parts = name.dropLast(4).split(separator: "-")
        guard parts.count == 2, parts.allSatisfy({ $0.count == 16 }),
            let sequence = UInt64(parts[0], radix: 16), let first = UInt64(parts[1], radix: 16)
        else { return nil }
        return (sequence, first)
    }

    static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    static func record(_ type: RecordType, _ payload: (inout ByteWriter) -> Void, into output: inout [UInt8]) {
        var body = ByteWriter()
        body.u8(type.rawValue)
        payload(&body)
        var framing = ByteWriter()
        framing.u32(UInt32(body.bytes.count))
        framing.u32(CRC32C.checksum(body.bytes))
        output += framing.bytes
        output += body.bytes
    }

    static func encode(_ entry: Entry, into output: inout [UInt8]) {
        record(.entry, { writer in
            writer.u64(entry.term)
            writer.u64(entry.index)
            writer.u8(entry.kind.rawValue)
            writer.blob(entry.data)
        }, into: &output)
    }

    static func encode(_ state: HardState, into output: inout [UInt8]) {
        record(.hardState, { writer in
            writer.u64(state.term)
            writer.u64(state.vote)
            writer.u64(state.commit)
        }, into: &output)
    }

    static func encodeSnapshotMarker(index: UInt64, term: UInt64, into output: inout [UInt8]) {
        record(.snapshot, { writer in
            writer.u64(index)
            writer.u64(term)
        }, into: &output)
    }
}
