import EtcdAPI
import Foundation
import Logging
import NIOPosix
import Raft
import RaftCore
import Testing

@testable import V3

/// A backup of a member whose v3 store is on disk, through a real one-member server: streamed
/// out of a copy of the file, restored into a new data directory as the store's own file
/// (never read into the snapshot), and served again by a new member started on it elsewhere.
@Suite("Backups of the v3 store, streamed", .serialized, .timeLimit(.minutes(3)))
struct BackupRestoreTests {
    /// A member with its v3 store in `<directory>/snap/db`, as the daemon keeps it.
    final class Member: @unchecked Sendable {
        let directory: String
        let machine = V3StateMachine()
        var raft: RaftServer!

        init(_ directory: String) { self.directory = directory }

        func start(name: String = "solo") async throws {
            try FileManager.default.createDirectory(atPath: directory + "/snap", withIntermediateDirectories: true)
            try machine.openBackend(at: directory + "/snap/db")
            var configuration = RaftServerConfiguration(
                member: Raft.Member(name: name, peerURL: "http://127.0.0.1:0", clientURL: "http://127.0.0.1:0"), dataDirectory: directory,
                peerListenPort: 0)
            configuration.stateMachine = machine
            raft = try await RaftServer.start(configuration, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            let deadline = ContinuousClock.now + .seconds(10)
            while raft.status.leader == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        }

        func put(_ key: String, _ value: [UInt8]) async throws {
            var request = Etcdserverpb_PutRequest()
            request.key = Data(key.utf8)
            request.value = Data(value)
            _ = try await V3Backend(raft: raft, machine: machine).write(.put(request), from: .client(nil))
        }

        func value(_ key: String) -> [UInt8]? {
            machine.read { store in store.range(Array(key.utf8), [], at: store.revision).first?.value }
        }
    }

    @Test("A backup goes out and comes back in pieces; the restored member serves every key")
    func backupAndRestore() async throws {
        let root = "/tmp/v3-backup-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let source = Member(root + "/source")
        try await source.start()
        // Values larger than a piece, so the state spans many.
        let big = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for number in 0..<20 { try await source.put("key\(number)", big + [UInt8(number)]) }
        let backup = try await source.raft.backup()
        // The copy of the state is on disk, not in the backup: it is far larger than the rest.
        #expect(backup.length > 4_000_000)
        let saved = root + "/saved"
        #expect(FileManager.default.createFile(atPath: saved, contents: nil))
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: saved))
        let reader = try backup.reader()
        var pieces = 0
        while let piece = try reader.next(upTo: 32 * 1024) {
            #expect(piece.count <= 32 * 1024)
            try out.write(contentsOf: Data(piece))
            pieces += 1
        }
        // etcdctl's whole blocks: zeros the restore must pass over.
        try out.write(contentsOf: Data(count: 300))
        try out.close()
        #expect(pieces > 100)
        backup.discard()
        await source.raft.stop()

        // Restored in one place and started in another, as an operator restores into a new
        // directory and then mounts it where the member's data lives.
        let restoredAt = root + "/restored-first", target = root + "/restored"
        let length = UInt64(try FileManager.default.attributesOfItem(atPath: saved)[.size] as! Int)
        let restoredMember = Raft.Member(name: "solo", peerURL: "http://127.0.0.1:0", clientURL: "")
        // A file cut short is refused, naming the damage, and leaves nothing to start.
        #expect(throws: Backup.RestoreError.self) {
            try Backup.restore(
                file: saved, length: length / 2, into: root + "/cut", stateFile: root + "/cut/snap/db", member: restoredMember, initialCluster: [],
                clusterToken: "t")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/cut/" + Backup.unfinishedLog))
        #expect(!FileManager.default.fileExists(atPath: root + "/cut/snap"))
        // A member whose log is in a --wal-dir elsewhere keeps its store and identity here: a
        // restore there is refused, and (a cut file or not) takes nothing of them.
        let member = root + "/member"
        try FileManager.default.createDirectory(atPath: member + "/snap", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: member + "/snap/db", contents: Data("the store".utf8)))
        #expect(FileManager.default.createFile(atPath: member + "/cluster-id", contents: Data("1".utf8)))
        for cut in [length / 2, length] {
            #expect(throws: Backup.RestoreError.self) {
                try Backup.restore(
                    file: saved, length: cut, into: member, stateFile: member + "/snap/db", member: restoredMember, initialCluster: [],
                    clusterToken: "t")
            }
        }
        #expect(FileManager.default.contents(atPath: member + "/snap/db") == Data("the store".utf8))
        #expect(FileManager.default.fileExists(atPath: member + "/cluster-id"))
        // A restore that stopped just before naming its log (a crash there leaves this): the
        // directory holds everything but a log; the restore run again clears it and starts over.
        try Backup.restore(
            file: saved, length: length, into: restoredAt, stateFile: restoredAt + "/snap/db", member: restoredMember, initialCluster: [],
            clusterToken: "t")
        try FileManager.default.moveItem(atPath: restoredAt + "/wal", toPath: restoredAt + "/" + Backup.unfinishedLog)
        try Backup.restore(
            file: saved, length: length, into: restoredAt, stateFile: restoredAt + "/snap/db", member: restoredMember, initialCluster: [],
            clusterToken: "t")
        // The store is the machine's own file, and the new member's snapshot only points at it.
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: restoredAt + "/snap")
        #expect(snapshots.contains("db") && !snapshots.contains { $0.hasSuffix(".restoring") })
        for name in snapshots where name.hasSuffix(".snap") {
            let size = try FileManager.default.attributesOfItem(atPath: restoredAt + "/snap/" + name)[.size] as! Int
            #expect(size < 100_000, "the Raft snapshot holds \(size) bytes: the store was copied into it")
        }
        try FileManager.default.moveItem(atPath: restoredAt, toPath: target)
        let restored = Member(target)
        try await restored.start()
        defer { Task { await restored.raft.stop() } }
        for number in 0..<20 { #expect(restored.value("key\(number)") == big + [UInt8(number)]) }
        try await restored.put("after", [1])
        #expect(restored.value("after") == [1])
        await restored.raft.stop()
    }
}
