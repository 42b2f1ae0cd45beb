import RaftCore
import RaftDisk
import Testing

@Suite("Snapshot files and disk storage", .timeLimit(.minutes(3)))
struct DiskStorageTests {
    private let members = ConfState(voters: [1])

    @Test("A snapshot file round-trips, and only the newest few are kept")
    func snapshotFiles() throws {
        let directory = TemporaryDirectory()
        let store = try SnapshotStore(directory: directory.path)
        for index in 1...4 as ClosedRange<UInt64> {
            try store.save(Snapshot(metadata: SnapshotMetadata(index: index * 10, term: 2, confState: ConfState(voters: [1, 2], learners: [3])), data: [UInt8(index)]))
        }
        let newest = try #require(try store.loadNewest())
        #expect(newest.metadata == SnapshotMetadata(index: 40, term: 2, confState: ConfState(voters: [1, 2], learners: [3])))
        #expect(newest.data == [4])
        #expect(try PosixFileSystem().list(directory.path).count == 2)
    }

    @Test("A damaged snapshot is refused by name, never served")
    func damagedSnapshot() throws {
        let directory = TemporaryDirectory()
        let store = try SnapshotStore(directory: directory.path)
        try store.save(Snapshot(metadata: SnapshotMetadata(index: 5, term: 1, confState: members), data: Array("state".utf8)))
        let path = directory.path + "/" + (try PosixFileSystem().list(directory.path))[0]
        var bytes = RawFile.read(path)
        bytes[bytes.count - 1] ^= 1
        RawFile.write(path, bytes)
        #expect { try store.loadNewest() } throws: { "\($0)".contains("is damaged: checksum mismatch") && "\($0)".contains(path) }
    }

    @Test("A node restarted from disk has its term, vote, log and commit back, and goes on")
    func restartFromDisk() throws {
        let directory = TemporaryDirectory()
        var committed: [String] = []
        do {
            let storage = try DiskStorage.open(directory: directory.path, initialConfState: members)
            var node = RaftNode(config: RaftConfig(id: 1), storage: storage)
            node.campaign()
            for text in ["a", "b", "c"] { try node.propose(Array(text.utf8)) }
            while node.hasReady {
                let ready = node.ready()
                try storage.persist(entries: ready.entries, hardState: ready.hardState, snapshot: ready.snapshot)
                committed += ready.committedEntries.filter { !$0.data.isEmpty }.map { String(decoding: $0.data, as: UTF8.self) }
                node.advance(ready)
            }
            #expect(committed == ["a", "b", "c"])
            #expect(storage.syncCount >= 1)
        }
        let storage = try DiskStorage.open(directory: directory.path, initialConfState: ConfState())
        var node = RaftNode(config: RaftConfig(id: 1), storage: storage)
        #expect(node.term == 1)
        #expect(node.lastIndex == 4)
        #expect(node.commitIndex == 4)
        // The committed entries are delivered again for a state machine rebuilt from scratch.
        let ready = node.ready()
        #expect(ready.committedEntries.compactMap { $0.data.isEmpty ? nil : String(decoding: $0.data, as: UTF8.self) } == ["a", "b", "c"])
        node.advance(ready)
        node.campaign()
        #expect(node.role == .leader)
        #expect(node.term == 2)
    }

    @Test("After a snapshot, a restart starts from it and replays only the entries after it")
    func restartFromSnapshot() throws {
        let directory = TemporaryDirectory()
        do {
            let storage = try DiskStorage.open(directory: directory.path, initialConfState: members, segmentSize: 2048)
            var node = RaftNode(config: RaftConfig(id: 1), storage: storage)
            node.campaign()
            for n in 0..<100 {
                try node.propose(Array("entry \(n)".utf8))
                let ready = node.ready()
                try storage.persist(entries: ready.entries, hardState: ready.hardState, snapshot: ready.snapshot)
                node.advance(ready)
            }
            while node.hasReady {
                let ready = node.ready()
                try storage.persist(entries: ready.entries, hardState: ready.hardState, snapshot: ready.snapshot)
                node.advance(ready)
            }
            let segmentsBefore = storage.walSegments.count
            try storage.snapshot(at: 90, confState: node.confState, data: Array("state at 90".utf8), keepEntries: 10)
            #expect(storage.walSegments.count < segmentsBefore, "old segments released")
        }
        let storage = try DiskStorage.open(directory: directory.path, initialConfState: ConfState(), segmentSize: 2048)
        #expect(try storage.snapshot().data == Array("state at 90".utf8))
        #expect(storage.firstIndex() == 91)
        #expect(storage.lastIndex() == 101)
        var config = RaftConfig(id: 1)
        config.applied = 90
        var node = RaftNode(config: config, storage: storage)
        #expect(node.ready().committedEntries.map(\.index) == Array(91...101))
    }

    /// A leader of one on `storage`, with ten entries proposed, persisted and committed.
    private func commitTenEntries(on storage: DiskStorage) throws -> RaftNode<DiskStorage> {
        var node = RaftNode(config: RaftConfig(id: 1), storage: storage)
        node.campaign()
        for n in 0..<10 { try node.propose(Array("entry \(n)".utf8)) }
        while node.hasReady {
            let ready = node.ready()
            try storage.persist(entries: ready.entries, hardState: ready.hardState, snapshot: ready.snapshot)
            node.advance(ready)
        }
        return node
    }

    @Test("The snapshot's bytes are not held in memory: they are read back, verified, when needed")
    func snapshotBytesLiveOnDisk() throws {
        let directory = TemporaryDirectory()
        let storage = try DiskStorage.open(directory: directory.path, initialConfState: members)
        let node = try commitTenEntries(on: storage)
        let state = [UInt8](repeating: 7, count: 100_000)
        try storage.snapshot(at: 5, confState: node.confState, data: state)
        #expect(try storage.memory.snapshot().data.isEmpty, "the in-memory log keeps the snapshot's metadata only")
        #expect(storage.snapshotMetadata.index == 5)
        #expect(try storage.snapshot().data == state, "read back from the file")

        // Damaged on disk after it was dropped from memory: refused and reported, never sent.
        storage.releaseSnapshotData()
        let snap = directory.path + "/snap"
        let newest = try #require(try PosixFileSystem().list(snap).sorted().last)
        var bytes = RawFile.read(snap + "/" + newest)
        bytes[bytes.count / 2] ^= 1
        RawFile.write(snap + "/" + newest, bytes)
        #expect(throws: RaftError.snapshotTemporarilyUnavailable) { try storage.snapshot() }
        let error = try #require(storage.takeSnapshotReadError())
        #expect("\(error)".contains("is damaged"))
        #expect(storage.takeSnapshotReadError() == nil, "reported once")
    }

    @Test("A snapshot whose file could not be written leaves the previous one in force and readable")
    func failedSnapshotSaveKeepsThePreviousOne() throws {
        let directory = TemporaryDirectory()
        let fileSystem = FaultyFileSystem()
        let storage = try DiskStorage.open(directory: directory.path, initialConfState: members, fileSystem: fileSystem)
        let node = try commitTenEntries(on: storage)
        try storage.snapshot(at: 4, confState: node.confState, data: Array("state at 4".utf8))
        fileSystem.faults.withLock { $0.bytesUntilFull = 10 }
        #expect(throws: StorageError.self) { try storage.snapshot(at: 8, confState: node.confState, data: Array("state at 8".utf8)) }
        fileSystem.faults.withLock { $0.bytesUntilFull = nil }
        // Still the snapshot at 4, with its bytes: a follower behind can be sent it.
        #expect(storage.snapshotMetadata.index == 4)
        #expect(try storage.snapshot().data == Array("state at 4".utf8))
        // And the next attempt at 8 succeeds.
        try storage.snapshot(at: 8, confState: node.confState, data: Array("state at 8".utf8))
        storage.releaseSnapshotData()
        #expect(try storage.snapshot().data == Array("state at 8".utf8))
    }
}

