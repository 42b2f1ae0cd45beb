import EtcdAPI
import Foundation
import Raft
import Testing

@testable import V3

/// The v3 store in its SQLite file: reopened, replayed after a crash between commits, copied to
/// a follower, compacted in batches, defragmented, and refused when damaged. Each test drives
/// `V3StateMachine` as the Raft loop does (entries with their log indices) and compares with the
/// same entries applied to a store in memory, the model.
@Suite(.timeLimit(.minutes(3))) struct BackendTests {
    typealias TestClock = LeaseTests.TestClock

    /// A fresh directory for one test's files.
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "/etcd-backend-\(UInt64.random(in: 1...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func put(_ key: String, _ value: String, lease: Int64 = 0) -> V3Request {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data(value.utf8)
        request.lease = lease
        return .put(request)
    }

    static func delete(_ key: String) -> V3Request {
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = Data(key.utf8)
        return .deleteRange(request)
    }

    static func compact(_ revision: Int64) -> V3Request {
        var request = Etcdserverpb_CompactionRequest()
        request.revision = revision
        return .compact(request)
    }

    static func grant(_ id: Int64, ttl: Int64) -> V3Request {
        var request = Etcdserverpb_LeaseGrantRequest()
        request.id = id
        request.ttl = ttl
        return .leaseGrant(request)
    }

    /// A history with every kind of write: puts over puts, a delete, a transaction, a lease
    /// with keys on it, a raised alarm, and a compaction.
    static let history: [V3Request] = {
        var requests: [V3Request] = [grant(7, ttl: 60)]
        for round in 0..<4 {
            for key in ["a", "b", "c", "d"] { requests.append(put(key, "\(key)\(round)", lease: key == "c" ? 7 : 0)) }
        }
        requests.append(delete("b"))
        var txn = Etcdserverpb_TxnRequest()
        var op = Etcdserverpb_RequestOp()
        var txnPut = Etcdserverpb_PutRequest()
        txnPut.key = Data("t".utf8)
        txnPut.value = Data("in a txn".utf8)
        op.request = .requestPut(txnPut)
        var deleteOp = Etcdserverpb_RequestOp()
        var txnDelete = Etcdserverpb_DeleteRangeRequest()
        txnDelete.key = Data("a".utf8)
        deleteOp.request = .requestDeleteRange(txnDelete)
        txn.success = [op, deleteOp]
        requests.append(.txn(txn))
        var alarm = Etcdserverpb_AlarmRequest()
        alarm.action = .activate
        alarm.memberID = 42
        alarm.alarm = .nospace
        requests.append(.alarm(alarm))
        requests.append(compact(9))
        return requests
    }()

    /// The model: the same entries, applied to a store in memory.
    static func model(_ requests: ArraySlice<V3Request>) -> MVCCStore {
        var store = MVCCStore()
        for request in requests { _ = store.apply(request) }
        return store
    }

    static func machine(_ path: String, clock: TestClock = TestClock(), batch: V3StateMachine.BatchPolicy = .init()) throws -> V3StateMachine {
        let machine = V3StateMachine(now: { clock.now })
        try machine.openBackend(at: path, batch: batch)
        return machine
    }

    /// Applies entries `indices` of `history` (entry i at log index i + 1).
    static func apply(_ machine: V3StateMachine, _ indices: Range<Int>) {
        for position in indices { _ = machine.apply(history[position], at: UInt64(position + 1)) }
    }

    @Test func aReopenedFileHoldsTheSameStoreAndItsConsistentIndex() throws {
        let path = try Self.directory() + "/db"
        let first = try Self.machine(path)
        Self.apply(first, 0..<Self.history.count)
        first.commitNow()
        let expected = Self.model(Self.history[...])
        #expect(first.read { $0.encoded() } == expected.encoded())

        let reopened = try Self.machine(path)
        #expect(reopened.consistentIndex == UInt64(Self.history.count))
        #expect(reopened.read { $0.encoded() } == expected.encoded())
        #expect(reopened.read { $0.hashKV(at: $0.revision) } == expected.hashKV(at: expected.revision))
        // Leases know their keys again, from the keys' latest writes.
        #expect(reopened.read { $0.leases[7]?.keys } == [Array("c".utf8)])
        #expect(reopened.read { $0.alarms.map(\.memberID) } == [42])
    }

    @Test func aCrashBetweenCommitsLosesOnlyWhatTheLogReplays() throws {
        let path = try Self.directory() + "/db"
        var batch = V3StateMachine.BatchPolicy()
        batch.limit = 5
        do {
            let crashing = try Self.machine(path, batch: batch)
            Self.apply(crashing, 0..<13)
            #expect(crashing.committedIndex == 10, "committed at every fifth entry")
            // Dropped without a commit: SQLite rolls the open batch back, as a kill -9 would.
        }
        let restarted = try Self.machine(path, batch: batch)
        #expect(restarted.consistentIndex == 10)
        #expect(restarted.read { $0.encoded() } == Self.model(Self.history[..<10]).encoded())
        // The log replays from its start (no snapshot): what the file holds is skipped, once.
        for position in 0..<Self.history.count {
            let result = restarted.apply(Self.history[position], at: UInt64(position + 1))
            if position < 10 { #expect(result.failureValue == .appliedBefore, "entry \(position + 1) applied twice") }
        }
        #expect(restarted.read { $0.encoded() } == Self.model(Self.history[...]).encoded())
    }

    @Test func theOpenBatchCommitsOnceItIsOldEnough() throws {
        let clock = TestClock()
        let machine = try Self.machine(try Self.directory() + "/db", clock: clock)
        Self.apply(machine, 0..<3)
        machine.backgroundStep()
        #expect(machine.committedIndex == 0, "younger than the interval: still open")
        clock.advance(.milliseconds(100))
        machine.backgroundStep()
        #expect(machine.committedIndex == 3)
    }

    @Test("The -wal file starts over once the checkpointer has copied it, instead of growing with every write; not while a reader holds an older commit")
    func theWriteAheadLogStartsOver() throws {
        let clock = TestClock()
        let path = try Self.directory() + "/db"
        let machine = try Self.machine(path, clock: clock)
        let checkpointer = try Checkpointer(path: path)
        func logSize() throws -> Int { try #require(FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) }
        func asked() -> Bool { machine.state.withLock { $0.file?.logWantsRestart ?? false } }
        let value = String(repeating: "v", count: 4096)
        var index: UInt64 = 0
        // Batches of 50 values of 4 KiB (about 60 frames, 240 KiB), each committed and
        // checkpointed as the committer does.
        func batches(_ count: Int, _ name: String, each: () -> Void = {}) {
            for batch in 0..<count {
                for key in 0..<50 {
                    index += 1
                    _ = machine.apply(Self.put("\(name)\(batch)-\(key)", value), at: index)
                }
                clock.advance(.milliseconds(100))
                machine.backgroundStep()
                BackendCommitter.checkpoint(with: checkpointer, for: machine, restartAfter: 256)
                each()
            }
        }
        // About 20 MB of frames through the log: 256 frames (1 MiB) before the writer is asked,
        // and a batch or two more.
        batches(80, "a")
        let size = try logSize()
        #expect(size < 3 << 20, "the log grew with the writes: \(size) bytes")

        // A reader on an older commit: the checkpointer cannot copy past it, and the writer is
        // not asked to copy the backlog under the store's lock.
        var pinned: SQLiteBackend.PinnedCommit? = try SQLiteBackend.PinnedCommit(path: path)
        var everAsked = false
        batches(40, "b") { everAsked = everAsked || asked() }
        #expect(!everAsked, "asked to restart with a reader holding an older commit")
        #expect(try logSize() > 8 << 20, "the log holds every batch since the pin")
        #expect(pinned?.consistentIndex == UInt64(80 * 50))

        // Once it is gone, the log is copied whole and starts over at the next commits.
        pinned = nil
        batches(3, "c")
        let frames = try #require(checkpointer.run()?.frames)
        #expect(frames < 1024, "the log did not start over: \(frames) frames")

        let reopened = try Self.machine(path)
        #expect(reopened.consistentIndex == index)
        #expect(reopened.read { $0.count(Array("a".utf8), Array("d".utf8), at: $0.revision) } == 123 * 50)
    }

    @Test func aSnapshotIsAMarkerAndAFollowerGetsACopyOfTheFile() throws {
        let directory = try Self.directory()
        let leader = try Self.machine(directory + "/leader.db")
        Self.apply(leader, 0..<10)
        let marker = leader.snapshotData()
        #expect(marker.count < 64, "a snapshot does not copy the store")
        #expect(leader.committedIndex == 10, "taking it commits what it points at")
        try leader.restore(from: marker, at: 10)

        // A member whose file lost what the marker points at refuses it.
        let empty = try Self.machine(directory + "/empty.db")
        #expect(throws: V3StateMachine.BackendBehind.self) { try empty.restore(from: marker, at: 10) }

        // What a follower behind the compacted log gets: the file, as of the copy.
        let data = try leader.transferData()
        let copy = try #require(data)
        #expect(copy.starts(with: Array("SQLite format 3".utf8)))
        let follower = try Self.machine(directory + "/follower.db")
        try follower.restore(from: copy, at: 10)
        #expect(follower.consistentIndex == 10)
        #expect(follower.read { $0.encoded() } == leader.read { $0.encoded() })
        // The swapped-in file is the follower's own from now on: a restart finds it.
        let followerAgain = try Self.machine(directory + "/follower.db")
        #expect(followerAgain.consistentIndex == 10)
        #expect(followerAgain.read { $0.encoded() } == follower.read { $0.encoded() })
        Self.apply(follower, 0..<Self.history.count)
        Self.apply(leader, 10..<Self.history.count)
        #expect(follower.read { $0.encoded() } == leader.read { $0.encoded() })
        #expect(follower.read { $0.hashKV(at: $0.revision) } == leader.read { $0.hashKV(at: $0.revision) })

        // An older copy than what the follower holds changes nothing.
        try follower.restore(from: copy, at: 10)
        #expect(follower.consistentIndex == UInt64(Self.history.count))
        // A member without a file (tests) reads the copy too.
        let inMemory = V3StateMachine()
        try inMemory.restore(from: copy, at: 10)
        #expect(inMemory.read { $0.encoded() } == Self.model(Self.history[..<10]).encoded())
    }

    @Test func aCopyTakenWhileWritesGoOnIsTheStoreAsOfItsStart() throws {
        let directory = try Self.directory()
        let leader = try Self.machine(directory + "/leader.db")
        Self.apply(leader, 0..<12)
        let transfer = try #require(leader.transferSource())
        // Writes and commits after the copy was asked for, before it is made.
        Self.apply(leader, 12..<Self.history.count)
        leader.commitNow()
        let received = directory + "/state.received-1"
        let note = try transfer(received)
        // As a follower takes it: from the file it was received into, which then goes.
        let follower = try Self.machine(directory + "/follower.db")
        try follower.restore(from: SpooledState.reference(to: received, note: note), at: 12)
        #expect(follower.consistentIndex == 12)
        #expect(follower.read { $0.encoded() } == Self.model(Self.history[..<12]).encoded())
        #expect(!FileManager.default.fileExists(atPath: received))
        // After a restart, the snapshot still names the file, which is gone: the store holds
        // what the note says the file held, so nothing is to be done.
        try follower.restore(from: SpooledState.reference(to: received, note: note), at: 12)
        #expect(follower.consistentIndex == 12)
        // A member whose file lost it refuses, as for a marker.
        let emptied = try Self.machine(directory + "/emptied.db")
        #expect(throws: V3StateMachine.BackendBehind.self) {
            try emptied.restore(from: SpooledState.reference(to: received, note: note), at: 12)
        }
    }

    @Test func aSnapshotInTheOlderFormatIsWrittenIntoTheFile() throws {
        let path = try Self.directory() + "/db"
        let old = Self.model(Self.history[..<12]).encoded()
        do {
            let machine = try Self.machine(path)
            try machine.restore(from: old, at: 12)
            #expect(machine.consistentIndex == 12)
        }
        let reopened = try Self.machine(path)
        #expect(reopened.consistentIndex == 12)
        #expect(reopened.read { $0.encoded() } == old)
    }

    @Test func compactionDeletesRowsInBatchesAndARestartFindsTheRestAgain() throws {
        let path = try Self.directory() + "/db"
        var batch = V3StateMachine.BatchPolicy()
        batch.removals = 100
        let rows = { () throws -> Int64 in try SQLiteConnection(path: path, readOnly: true).integer("SELECT count(*) FROM kv") }
        do {
            let machine = try Self.machine(path, batch: batch)
            for index in 1...350 { _ = machine.apply(Self.put("k", "\(index)"), at: UInt64(index)) }
            _ = machine.apply(Self.compact(300), at: 351)
            machine.commitNow()
            #expect(try rows() == 350, "the rows go in batches, not at once")
            #expect(machine.backgroundStep(), "more batches to come")
            machine.commitNow()
            #expect(try rows() == 250)
            #expect(machine.read { $0.range(Array("k".utf8), [], at: 301).map { String(decoding: $0.value, as: UTF8.self) } } == ["300"])
        }
        let restarted = try Self.machine(path, batch: batch)
        #expect(restarted.read { (try? $0.readRevision(299)) == nil }, "still compacted after the restart")
        while restarted.backgroundStep() {}
        restarted.commitNow()
        #expect(try rows() == 52, "the version a read at 300 sees, and the 51 after it")
        var model = MVCCStore()
        for index in 1...350 { _ = model.apply(Self.put("k", "\(index)")) }
        _ = model.apply(Self.compact(300))
        #expect(restarted.read { $0.hashKV(at: $0.revision) } == model.hashKV(at: model.revision))
    }

    @Test func defragmentationShrinksTheFileToWhatIsInUse() throws {
        let machine = try Self.machine(try Self.directory() + "/db")
        let big = String(repeating: "x", count: 4000)
        for index in 1...300 { _ = machine.apply(Self.put("k\(index % 10)", big), at: UInt64(index)) }
        _ = machine.apply(Self.compact(301), at: 301)
        while machine.backgroundStep() {}
        machine.commitNow()
        let before = machine.sizes
        #expect(before.inUse < before.total / 2, "compaction frees pages but the file keeps them")
        try machine.defragment()
        let after = machine.sizes
        #expect(after.total < before.total / 2)
        #expect(after.total == after.inUse)
        #expect(machine.read { $0.count([0], [0], at: $0.revision) } == 10)
    }

    @Test("The quota is checked against the file as of its last commit, as etcd's; a defragmentation gives the space back")
    func quotaFollowsTheCommittedFile() throws {
        let clock = TestClock()
        let path = try Self.directory() + "/db"
        let empty = try Self.machine(path).sizes.total
        var batch = V3StateMachine.BatchPolicy()
        batch.limit = 10_000
        let machine = V3StateMachine(quotaBytes: empty + 200_000, now: { clock.now })
        try machine.openBackend(at: path, batch: batch)
        let big = String(repeating: "x", count: 4000)
        for index in 1...100 { _ = machine.apply(Self.put("k\(index % 10)", big), at: UInt64(index)) }
        #expect(machine.fitsQuota(cost: 1), "not committed yet: the size as of the last commit is what counts")
        machine.commitNow()
        #expect(!machine.fitsQuota(cost: 1), "about 400 KB committed, past the quota")
        _ = machine.apply(Self.compact(101), at: 101)
        while machine.backgroundStep() {}
        machine.commitNow()
        #expect(!machine.fitsQuota(cost: 1), "compaction frees pages, but the file keeps them")
        try machine.defragment()
        #expect(machine.fitsQuota(cost: 1))
        #expect(!machine.fitsQuota(cost: 200_000))
    }

    @Test func aDamagedFileIsReportedNotServed() throws {
        let directory = try Self.directory()
        let path = directory + "/db"
        do {
            let machine = try Self.machine(path)
            let big = String(repeating: "y", count: 3000)
            for index in 1...200 { _ = machine.apply(Self.put("k\(index)", big), at: UInt64(index)) }
            machine.commitNow()
            try machine.defragment()  // everything in the main file, none in its -wal
        }
        // Garbage over pages in the middle of the file.
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: 40_960)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 16_384))
        try handle.close()
        #expect(throws: SQLiteError.self) { try Self.machine(path) }

        // A SQLite file that is not a store of ours.
        let other = directory + "/other.db"
        try SQLiteConnection(path: other).execute("CREATE TABLE notes (text TEXT)")
        #expect(throws: SQLiteBackend.NotABackend.self) { try Self.machine(other) }
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
