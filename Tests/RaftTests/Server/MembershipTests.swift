import Foundation
import Logging
import NIOPosix
import Raft
import RaftCore
import RaftDisk
import SingleNode
import Testing

/// Backups and restores, on a real member over sockets (the membership API's own tests run on
/// the manual clock: `ManualClockMembershipTests`).
@Suite("Backups of a replicated member", .serialized, .timeLimit(.minutes(3)))
struct MembershipTests {
    @Test("A backup restores into a new cluster with the data and the new members only")
    func backupRestore() async throws {
        let source = TestMember("old")
        defer { Task { await source.stop() } }
        try await source.start()
        try await waitUntil("old leads") { source.isLeader }
        _ = try await source.write(.set(key: "/kept", value: "yes", expiration: nil))
        let backup = try await source.server!.backup()
        let bytes = try backup.bytes()
        backup.discard()

        let restored = TestMember("new1")
        defer { Task { await restored.stop() } }
        let directory = restored.directory.path + "/" + restored.dataName
        let saved = restored.directory.path + "/saved"
        func restore(_ bytes: [UInt8], into directory: String) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: saved))
            try Backup.restore(
                file: saved, length: UInt64(bytes.count), into: directory, stateFile: nil, member: restored.member, initialCluster: [],
                clusterToken: "t")
        }
        try restore(bytes, into: directory)
        // Not twice into the same directory.
        #expect(throws: Backup.RestoreError.self) { try restore(bytes, into: directory) }
        // A length that points past the end (the v1 store's, here) is damage, named as such.
        var damaged = bytes
        damaged[Array("etcd-swift-backup/2\n".utf8).count + 16 + 7] = 0x7F
        #expect(throws: Backup.RestoreError.self) { try restore(damaged, into: restored.directory.path + "/other") }
        try await restored.start()
        try await waitUntil("the restored member leads") { restored.isLeader }
        #expect(restored.value("/kept") == "yes")
        #expect(restored.server!.machine.machines().map(\.name) == ["new1"])
        #expect(restored.server!.status.members.map(\.name) == ["new1"])
        guard case .completed(.success) = try await restored.write(.set(key: "/more", value: "1", expiration: nil)) else {
            Issue.record("the restored cluster does not take writes")
            return
        }
    }
}
