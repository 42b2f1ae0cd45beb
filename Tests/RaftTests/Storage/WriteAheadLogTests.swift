import RaftCore
@testable import RaftDisk
import Testing

private func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 1, size: Int = 40) -> [Entry] {
    range.map { Entry(term: term, index: $0, data: Array(repeating: UInt8(truncatingIfNeeded: $0), count: size)) }
}

@Suite("Write-ahead log", .timeLimit(.minutes(3)))
struct WriteAheadLogTests {
    @Test("What is appended comes back on reopening: entries, hard state, one sync per batch")
    func roundTrip() throws {
        let directory = TemporaryDirectory()
        do {
            let (log, contents) = try WriteAheadLog.open(directory: directory.path)
            #expect(contents == WriteAheadLog.Contents())
            try log.append(entries(1...3), hardState: HardState(term: 1, vote: 1, commit: 2))
            try log.append(entries(4...4), hardState: nil)
            #expect(log.syncCount == 2)
        }
        let (_, contents) = try WriteAheadLog.open(directory: directory.path)
        #expect(contents.entries == entries(1...4))
        #expect(contents.hardState == HardState(term: 1, vote: 1, commit: 2))
        #expect(contents.tornTail == nil)
    }

    @Test("A commit index that moved alone is written without a sync; entries, a term or a vote are synced")
    func commitOnlyIsNotSynced() throws {
        let directory = TemporaryDirectory()
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.append(entries(1...2), hardState: HardState(term: 1, vote: 1, commit: 0))
            #expect(log.syncCount == 1)
            try log.append([], hardState: HardState(term: 1, vote: 1, commit: 2))
            #expect(log.syncCount == 1)
            try log.append([], hardState: HardState(term: 2, vote: 1, commit: 2))
            #expect(log.syncCount == 2)
            try log.append([], hardState: HardState(term: 2, vote: 3, commit: 2))
            #expect(log.syncCount == 3)
            try log.append(entries(3...3, term: 2), hardState: nil)
            #expect(log.syncCount == 4)
        }
        // Written all the same: what a restart reads (a crash of the machine could lose it,
        // and the member would learn the commit index again from its leader).
        let (_, contents) = try WriteAheadLog.open(directory: directory.path)
        #expect(contents.hardState == HardState(term: 2, vote: 3, commit: 2))
        #expect(contents.entries.map(\.index) == [1, 2, 3])
    }

    @Test("Power cut: an unsynced commit record's sector lost, a later write's kept: cut there as torn, not refused")
    func lostUnsyncedRecordBeforeALaterOne() throws {
        let directory = TemporaryDirectory()
        var segment = ""
        var lostAt = 0
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.append(entries(1...2), hardState: HardState(term: 1, vote: 1, commit: 0))
            segment = log.segmentPaths[0]
            lostAt = log.offset
            try log.append([], hardState: HardState(term: 1, vote: 1, commit: 2))  // not synced
            try log.append(entries(3...3), hardState: nil)  // its sync "never finished"
        }
        // The commit record never reached the disk; the entry after it did.
        var bytes = RawFile.read(segment)
        for offset in lostAt..<(lostAt + 33) { bytes[offset] = 0 }
        RawFile.write(segment, bytes)
        let (_, contents) = try WriteAheadLog.open(directory: directory.path)
        #expect(contents.entries.map(\.index) == [1, 2])
        #expect(contents.hardState == HardState(term: 1, vote: 1, commit: 0))
        #expect(contents.tornTail?.contains("torn") == true)
    }

    @Test("Records after a torn one are wiped, so they cannot reappear behind newer records")
    func staleRecordsAfterATornOneAreWiped() throws {
        let directory = TemporaryDirectory()
        var segment = ""
        var tornAt = 0
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.append(entries(1...2), hardState: HardState(term: 1, vote: 1, commit: 0))
            segment = log.segmentPaths[0]
            tornAt = log.offset
            try log.append(entries(3...4), hardState: nil)
        }
        // Entry 3's header never reached the disk; entry 4, right after it, did.
        var bytes = RawFile.read(segment)
        for offset in tornAt..<(tornAt + 8) { bytes[offset] = 0 }
        RawFile.write(segment, bytes)
        do {
            let (log, contents) = try WriteAheadLog.open(directory: directory.path)
            #expect(contents.entries.map(\.index) == [1, 2])
            // A new leader's entry 3, the same size as the lost one, ends where the stale 4 began.
            try log.append(entries(3...3, term: 2), hardState: nil)
        }
        let (_, contents) = try WriteAheadLog.open(directory: directory.path)
        #expect(contents.entries.map(\.index) == [1, 2, 3])
        #expect(contents.entries.last?.term == 2)
        #expect(contents.tornTail == nil)
    }

    @Test("Records are written only over zeros written ahead of them, never into preallocated blocks")
    func recordsLandOnFilledBlocks() throws {
        let directory = TemporaryDirectory()
        let fileSystem = FaultyFileSystem()
        let segmentSize = 3 * WriteAheadLog.fillChunk
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path, fileSystem: fileSystem, segmentSize: segmentSize)
            // About 2.5 chunks' worth of records, a batch at a time.
            for batch in 0..<UInt64(40) { try log.append(entries((batch * 16 + 1)...(batch * 16 + 16), size: 4000), hardState: nil) }
            #expect(log.filledEnd >= log.offset)
            #expect(log.filledEnd <= segmentSize)
        }
        let segment = try #require(try fileSystem.list(directory.path).first { $0.hasSuffix(".wal") })
        let writes = fileSystem.writes.withLock { $0 }.filter { $0.path.hasSuffix(segment) || $0.path.hasSuffix(segment + ".tmp") }
        let records = writes.enumerated().filter { !$0.element.isZeros && $0.element.range.lowerBound > 0 }
        #expect(records.count == 40)
        for (position, record) in records {
            // The zeros written before it, together, cover it.
            var reached = record.range.lowerBound
            for zeros in writes[..<position].filter(\.isZeros).map(\.range).sorted(by: { $0.lowerBound < $1.lowerBound })
            where zeros.lowerBound <= reached {
                reached = max(reached, zeros.upperBound)
            }
            #expect(reached >= record.range.upperBound, "record at \(record.range) written over zeros")
        }
        let (_, contents) = try WriteAheadLog.open(directory: directory.path, segmentSize: segmentSize)
        #expect(contents.entries.count == 640)
    }

    @Test("A segment ending in an unsynced commit index is synced before the next one starts")
    func unsyncedTailIsSyncedBeforeACut() throws {
        let directory = TemporaryDirectory()
        let fileSystem = FaultyFileSystem()
        let (log, _) = try WriteAheadLog.open(directory: directory.path, fileSystem: fileSystem, segmentSize: 1024)
        try log.append(entries(1...10), hardState: HardState(term: 1, vote: 1, commit: 0))
        try log.append([], hardState: HardState(term: 1, vote: 1, commit: 10))
        let first = try #require(log.segmentPaths.last)
        fileSystem.synced.withLock { $0 = [] }
        try log.append(entries(11...40), hardState: nil)
        #expect(log.segmentPaths.count == 2)
        // The old segment first (its commit record), then the new one's header, then the batch.
        #expect(fileSystem.synced.withLock { $0.first } == first)
    }

    @Test("Entries rewritten by a new leader replace the old suffix on replay")
    func overwrite() throws {
        let directory = TemporaryDirectory()
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.append(entries(1...5), hardState: nil)
            try log.append(entries(3...4, term: 2), hardState: nil)
        }
        let (_, contents) = try WriteAheadLog.open(directory: directory.path)
        #expect(contents.entries == entries(1...2) + entries(3...4, term: 2))
    }

    @Test("Segments roll over when full, are preallocated, and replay in order")
    func segments() throws {
        let directory = TemporaryDirectory()
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path, segmentSize: 1024)
            for index in 1...60 as ClosedRange<UInt64> { try log.append(entries(index...index), hardState: HardState(term: 1, commit: index)) }
            #expect(log.segmentPaths.count > 3)
            #expect(RawFile.read(log.segmentPaths[0]).count == 1024, "preallocated to the segment size")
        }
        let (_, contents) = try WriteAheadLog.open(directory: directory.path, segmentSize: 1024)
        #expect(contents.entries == entries(1...60))
        #expect(contents.hardState.commit == 60)
    }

    @Test("A crash at every byte of the last write: the torn record is cut off and reported, and the log goes on")
    func tornTailAtEveryOffset() throws {
        let directory = TemporaryDirectory()
        var segment = ""
        var start = 0, end = 0
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path, segmentSize: 4096)
            try log.append(entries(1...3), hardState: nil)
            segment = log.segmentPaths[0]
            start = RawFile.read(segment).lastIndex { $0 != 0 }! + 1
            try log.append(entries(4...4, size: 100), hardState: nil)
            end = RawFile.read(segment).lastIndex { $0 != 0 }! + 1
        }
        let whole = RawFile.read(segment)
        for cut in start..<end {
            // The write reached the disk up to `cut`; the rest of the preallocated file is zeros.
            RawFile.write(segment, Array(whole[..<cut]) + Array(repeating: 0, count: whole.count - cut))
            let (log, contents) = try WriteAheadLog.open(directory: directory.path, segmentSize: 4096)
            #expect(contents.entries == entries(1...3), "cut at byte \(cut)")
            if cut > start { #expect(contents.tornTail?.contains("torn record") == true, "cut at byte \(cut)") }
            try log.append(entries(4...4, term: 2), hardState: nil)
        }
        let (_, contents) = try WriteAheadLog.open(directory: directory.path, segmentSize: 4096)
        #expect(contents.entries == entries(1...3) + entries(4...4, term: 2))
    }

    @Test("A flipped bit in the middle of the log is a hard error that names the file and offset")
    func bitFlipInTheMiddle() throws {
        let directory = TemporaryDirectory()
        var segment = ""
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.append(entries(1...10), hardState: nil)
            segment = log.segmentPaths[0]
        }
        var bytes = RawFile.read(segment)
        bytes[200] ^= 0x10
        RawFile.write(segment, bytes)
        #expect { try WriteAheadLog.open(directory: directory.path) } throws: { error in
            "\(error)".contains("is corrupt at byte") && "\(error)".contains(segment)
        }
    }

    @Test("A damaged header or an unknown format version is refused with a clear message")
    func headers() throws {
        let directory = TemporaryDirectory()
        var segment = ""
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.append(entries(1...1), hardState: nil)
            segment = log.segmentPaths[0]
        }
        var bytes = RawFile.read(segment)
        bytes[8] = 9  // version 9
        RawFile.write(segment, bytes)
        #expect { try WriteAheadLog.open(directory: directory.path) } throws: { "\($0)".contains("header checksum mismatch") }
    }

    @Test("A full disk mid-write fails the append, stops the log, and loses nothing acknowledged")
    func diskFull() throws {
        let directory = TemporaryDirectory()
        let fileSystem = FaultyFileSystem()
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path, fileSystem: fileSystem)
            try log.append(entries(1...5), hardState: HardState(term: 1, commit: 5))
            fileSystem.faults.withLock { $0.bytesUntilFull = 30 }
            #expect(throws: StorageError.self) { try log.append(entries(6...8), hardState: nil) }
            fileSystem.faults.withLock { $0.bytesUntilFull = nil }
            #expect { try log.append(entries(6...6), hardState: nil) } throws: { "\($0)".contains("stopped accepting writes") }
        }
        let (_, contents) = try WriteAheadLog.open(directory: directory.path)
        #expect(contents.entries == entries(1...5))
        #expect(contents.hardState.commit == 5)
        #expect(contents.tornTail != nil, "the partial write is found and cut off")
    }

    @Test("A failed sync fails the append and the log refuses all later writes")
    func failedSync() throws {
        let directory = TemporaryDirectory()
        let fileSystem = FaultyFileSystem()
        let (log, _) = try WriteAheadLog.open(directory: directory.path, fileSystem: fileSystem)
        try log.append(entries(1...2), hardState: nil)
        fileSystem.faults.withLock { $0.failSync = true }
        #expect { try log.append(entries(3...3), hardState: nil) } throws: { "\($0)".contains("Input/output error") }
        fileSystem.faults.withLock { $0.failSync = false }
        #expect { try log.append(entries(3...3), hardState: nil) } throws: { "\($0)".contains("restart the member") }
    }

    @Test("A snapshot marker releases old segments; the hard state survives in the newer ones")
    func snapshotReleasesSegments() throws {
        let directory = TemporaryDirectory()
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path, segmentSize: 1024)
            try log.append([], hardState: HardState(term: 3, vote: 2, commit: 0))
            for index in 1...60 as ClosedRange<UInt64> { try log.append(entries(index...index), hardState: nil) }
            let before = log.segmentPaths.count
            try log.recordSnapshot(index: 50, term: 1)
            #expect(log.segmentPaths.count < before)
        }
        let (_, contents) = try WriteAheadLog.open(directory: directory.path, segmentSize: 1024)
        #expect(contents.snapshot == (50, 1))
        #expect(contents.entries == entries(51...60))
        #expect(contents.hardState == HardState(term: 3, vote: 2, commit: 0))
    }
}

@Suite("Write-ahead log regressions", .timeLimit(.minutes(3)))
struct WriteAheadLogRegressionTests {
    @Test("Regression: reopening after a second snapshot released segments (a header's older marker is not a gap)")
    func twoSnapshots() throws {
        let directory = TemporaryDirectory()
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path, segmentSize: 1024)
            for index in 1...30 as ClosedRange<UInt64> { try log.append(entries(index...index), hardState: nil) }
            try log.recordSnapshot(index: 10, term: 1)
            for index in 31...80 as ClosedRange<UInt64> { try log.append(entries(index...index), hardState: nil) }
            try log.recordSnapshot(index: 70, term: 1)
        }
        let (_, contents) = try WriteAheadLog.open(directory: directory.path, segmentSize: 1024)
        #expect(contents.snapshot == (70, 1))
        #expect(contents.entries == entries(71...80))
    }

    @Test("Regression: a synced last record whose data ends in many zero bytes is kept, not cut as torn")
    func zeroHeavyLastRecord() throws {
        let directory = TemporaryDirectory()
        let zeros = Entry(term: 1, index: 3, data: [1] + [UInt8](repeating: 0, count: 100_000))
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.append(entries(1...2) + [zeros], hardState: nil)
        }
        let (_, contents) = try WriteAheadLog.open(directory: directory.path)
        #expect(contents.entries == entries(1...2) + [zeros])
        #expect(contents.tornTail == nil)
    }

    @Test("A flipped bit in a last record written to its end is corruption, not a torn tail")
    func bitFlipInLastRecord() throws {
        let directory = TemporaryDirectory()
        var segment = ""
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.append(entries(1...3), hardState: nil)
            segment = log.segmentPaths[0]
        }
        var bytes = RawFile.read(segment)
        let last = bytes.lastIndex { $0 != 0 }!
        bytes[last - 3] ^= 0x01
        RawFile.write(segment, bytes)
        #expect { try WriteAheadLog.open(directory: directory.path) } throws: { "\($0)".contains("record checksum mismatch") }
    }

    @Test("A segment of an unknown format version is refused by name")
    func unknownVersion() throws {
        let directory = TemporaryDirectory()
        var segment = ""
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.append(entries(1...1), hardState: nil)
            segment = log.segmentPaths[0]
        }
        var bytes = RawFile.read(segment)
        // Version 2 with a correct header checksum: a future format, not damage.
        bytes[8] = 2
        let checksum = crc32c(Array(bytes[0..<20]))
        for shift in 0..<4 { bytes[20 + shift] = UInt8(truncatingIfNeeded: checksum >> UInt32(shift * 8)) }
        RawFile.write(segment, bytes)
        #expect { try WriteAheadLog.open(directory: directory.path) } throws: { "\($0)".contains("has WAL format version 2; this build reads version 1") }
    }
}

/// CRC-32C, computed independently of the code under test.
func crc32c(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = ~0
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
    return ~crc
}
