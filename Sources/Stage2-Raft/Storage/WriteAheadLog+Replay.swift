import BinaryCodec
import RaftCore

/// Reading the log back: every record checked, a torn tail cut off, anything else refused.
extension WriteAheadLog {
    fileprivate static func corrupt(_ path: String, _ offset: Int, _ problem: String) -> StorageError {
        StorageError(
            "WAL segment \(path) is corrupt at byte \(offset): \(problem). The log cannot be trusted past this point; "
                + "restore this member from a snapshot, or remove it from the cluster and add it back with an empty data directory")
    }

    func replaySegment(path: String, sequence: UInt64, isLast: Bool, into contents: inout Contents) throws(StorageError) -> Int {
        let bytes = try fileSystem.readFile(path)
        guard bytes.count >= WALFormat.headerSize, Array(bytes[0..<8]) == WALFormat.magic else {
            throw StorageError("\(path) is not a WAL segment of this etcd (bad magic); move it out of the data directory")
        }
        var header = ByteReader(bytes[8..<WALFormat.headerSize])
        let version = header.u32()!, recordedSequence = header.u64()!, crc = header.u32()!
        guard crc == CRC32C.checksum(bytes[0..<20]) else { throw Self.corrupt(path, 0, "header checksum mismatch") }
        guard version == WALFormat.version else {
            throw StorageError("\(path) has WAL format version \(version); this build reads version \(WALFormat.version)")
        }
        guard recordedSequence == sequence else { throw Self.corrupt(path, 0, "header says sequence \(recordedSequence), name says \(sequence)") }

        // Preallocated segments are mostly zeros: find where the written part ends once, and
        // never look past it.
        let dataEnd = Self.endOfData(bytes)
        var offset = WALFormat.headerSize
        while offset < dataEnd {
            var framing = ByteReader(bytes[offset..<min(offset + 8, bytes.count)])
            let length = Int(framing.u32() ?? 0), checksum = framing.u32() ?? 0
            let end = offset + WALFormat.recordHeaderSize + length
            if length > 0 && end <= bytes.count && CRC32C.checksum(bytes[(offset + 8)..<end]) == checksum {
                try apply(record: bytes[(offset + 8)..<end], path: path, offset: offset, into: &contents)
                offset = end
                continue
            }
            // Damage. A crash in the middle of the last write leaves a partial record whose end
            // was never written (still the preallocated zeros) and no intact record after it:
            // that is a torn tail, cut off and reported. So is a record with a whole sector
            // never written, even with intact records after it (etcd's torn-entry rule): a
            // commit index that moved alone is written without a sync, and a power cut can
            // lose its sector while a later write's reached the disk; that later write's sync
            // never finished (it would have made the earlier sector durable too), so nothing
            // from here on was acknowledged. Any other damage (a record written to its end that
            // fails its checksum) happened after the fact: corruption, never skipped.
            let tornTail = end > dataEnd && !containsValidRecord(bytes, after: offset, before: dataEnd)
            if isLast && (tornTail || Self.hasUnwrittenSector(bytes, from: offset, to: end, dataEnd: dataEnd, length: length)) {
                try cutTornTail(path: path, at: offset, through: dataEnd, contents: &contents)
                return offset
            }
            throw Self.corrupt(path, offset, end > bytes.count ? "a record runs past the end of the file" : "record checksum mismatch")
        }
        return max(offset, WALFormat.headerSize)
    }

    /// Whether the damaged record at `start` shows a write that never reached the disk (etcd's
    /// `isTornEntry`): its header is zeros, or a piece of it that lies in one disk sector (512
    /// bytes, aligned in the file) is all zeros. Pieces under 8 bytes do not count (a record's
    /// own integers end in zeros), nor does a record whose length runs past the written data
    /// (a damaged length, not a lost sector).
    static func hasUnwrittenSector(_ bytes: [UInt8], from start: Int, to end: Int, dataEnd: Int, length: Int) -> Bool {
        if length == 0 { return true }  // no record is empty: its header was never written
        guard end <= dataEnd else { return false }
        let sector = 512
        var piece = start
        while piece < end {
            let pieceEnd = min(end, (piece / sector + 1) * sector)
            if pieceEnd - piece >= 8 && bytes[piece..<pieceEnd].allSatisfy({ $0 == 0 }) { return true }
            piece = pieceEnd
        }
        return false
    }

    /// How many zero bytes a record may end with (its data's own trailing zeros) beyond the
    /// last non-zero byte of the segment; bounds the work of checking a garbage length.
    static let zeroSlack = 1 << 16

    /// One past the last non-zero byte, scanning backwards a word at a time.
    static func endOfData(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { raw -> Int in
            var end = raw.count
            while end >= 8 && raw.loadUnaligned(fromByteOffset: end - 8, as: UInt64.self) == 0 { end -= 8 }
            while end > 0 && raw[end - 1] == 0 { end -= 1 }
            return end
        }
    }

    /// Whether any intact record starts after `offset` and before `limit`: a slow scan, only
    /// on the error path, and only over written bytes.
    private func containsValidRecord(_ bytes: [UInt8], after offset: Int, before limit: Int) -> Bool {
        var start = offset + 1
        while start + 8 < limit {
            if hasValidRecord(bytes, from: start, limit: min(bytes.count, limit + Self.zeroSlack)) { return true }
            start += 1
        }
        return false
    }

    private func hasValidRecord(_ bytes: [UInt8], from start: Int, limit: Int) -> Bool {
        guard start + 8 <= limit else { return false }
        var framing = ByteReader(bytes[start..<start + 8])
        let length = Int(framing.u32()!), checksum = framing.u32()!
        return length > 0 && start + 8 + length <= limit && CRC32C.checksum(bytes[(start + 8)..<(start + 8 + length)]) == checksum
    }

    private func cutTornTail(path: String, at offset: Int, through end: Int, contents: inout Contents) throws(StorageError) {
        let descriptor = try fileSystem.open(path, create: false)
        defer { fileSystem.close(descriptor) }
        try fileSystem.write(descriptor, [UInt8](repeating: 0, count: end - offset), at: offset, path: path)
        try fileSystem.sync(descriptor, path: path)
        contents.tornTail = "\(path): discarded a torn record of \(end - offset) bytes at byte \(offset) (a crash during a write)"
    }

    private func apply(record body: ArraySlice<UInt8>, path: String, offset: Int, into contents: inout Contents) throws(StorageError) {
        var reader = ByteReader(body)
        guard let rawType = reader.u8(), let type = WALFormat.RecordType(rawValue: rawType) else {
            throw Self.corrupt(path, offset, "unknown record type")
        }
        switch type {
        case .entry:
            guard let term = reader.u64(), let index = reader.u64(), let rawKind = reader.u8(),
                let kind = EntryKind(rawValue: rawKind), let data = reader.blob(), reader.isAtEnd
            else { throw Self.corrupt(path, offset, "malformed entry record") }
            if index <= contents.snapshot.index { return }
            if let last = contents.entries.last {
                guard index <= last.index + 1 else { throw Self.corrupt(path, offset, "entry \(index) follows entry \(last.index): a gap") }
                if index <= last.index { contents.entries.removeLast(Int(last.index - index) + 1) }
            }
            // The first entry replayed may lie past the snapshot marker a segment header copied:
            // older segments were released by a later snapshot. DiskStorage checks the log
            // against the snapshot file it actually has.
            contents.entries.append(Entry(term: term, index: index, kind: kind, data: data))
        case .hardState:
            guard let term = reader.u64(), let vote = reader.u64(), let commit = reader.u64(), reader.isAtEnd else {
                throw Self.corrupt(path, offset, "malformed hard state record")
            }
            contents.hardState = HardState(term: term, vote: vote, commit: commit)
        case .snapshot:
            guard let index = reader.u64(), let term = reader.u64(), reader.isAtEnd else {
                throw Self.corrupt(path, offset, "malformed snapshot record")
            }
            if index > contents.snapshot.index {
                contents.snapshot = (index, term)
                contents.entries.removeAll { $0.index <= index }
            }
        }
    }
}
