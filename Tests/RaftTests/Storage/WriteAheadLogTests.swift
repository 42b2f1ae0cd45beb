import Testing
import Raft

private func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 1, size: Int = 40) -> [Entry] {
    range.map { Entry(term: term, index: $0, data: Array(repeating: UInt8(truncatingIfNeeded: $0), count: size)) }
}

@Suite("Write-ahead log")
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
