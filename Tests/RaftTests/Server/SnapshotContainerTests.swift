@testable import Raft
import RaftCore
import Testing

@Suite("Snapshot container", .timeLimit(.minutes(3)))
struct SnapshotContainerTests {
    static let members = [Member(name: "a", peerURL: "http://127.0.0.1:7001", clientURL: "http://127.0.0.1:4001"),
                          Member(name: "", peerURL: "http://127.0.0.1:7002", clientURL: "", id: 99)]

    @Test("Version 3 round-trips both stores, the member table and the removed members")
    func roundTrip() throws {
        let container = SnapshotContainer(v1: [1, 2, 3], other: [9, 9], members: Self.members, removed: [5, 7])
        let read = try SnapshotContainer(decoding: container.encoded())
        #expect(read.v1 == [1, 2, 3] && read.other == [9, 9] && read.removed == [5, 7])
        #expect(read.members?.sorted { $0.id < $1.id } == Self.members.sorted { $0.id < $1.id })
        #expect(try SnapshotContainer(decoding: SnapshotContainer(v1: [1], other: nil, members: []).encoded()).other == nil)
    }

    @Test("Older snapshots still read: a bare v1 store, and version 2 with both stores")
    func olderFormats() throws {
        let bare = try SnapshotContainer(decoding: [7, 7, 7])
        #expect(bare.v1 == [7, 7, 7] && bare.other == nil && bare.members == nil)
        var version2 = SnapshotContainer.magicV2
        version2 += [2, 0, 0, 0, 1, 2, 1, 0, 0, 0, 8]
        let read = try SnapshotContainer(decoding: version2)
        #expect(read.v1 == [1, 2] && read.other == [8] && read.members == nil)
    }

    @Test("An older snapshot written again keeps having no member table (not an empty one), so its members still come from the v1 store")
    func olderFormatRewritten() throws {
        let bare = try SnapshotContainer(decoding: [7, 7, 7])
        let rewritten = try SnapshotContainer(decoding: bare.encoded())
        #expect(rewritten.members == nil)
        #expect(rewritten == bare)
        #expect(try SnapshotContainer(decoding: SnapshotContainer(v1: [1], other: nil, members: []).encoded()).members == [])
    }

    @Test("A damaged container is refused, not half read", arguments: [1, 10, 30])
    func damaged(cut: Int) {
        let encoded = SnapshotContainer(v1: Array(repeating: 1, count: 20), other: [2], members: Self.members).encoded()
        #expect(throws: SnapshotContainer.FormatError.self) { try SnapshotContainer(decoding: Array(encoded.dropLast(cut))) }
    }

    @Test("Members are read back from /_etcd/machines values in formats without the table")
    func membersFromMachines() {
        let table = SnapshotContainer.members(from: [("a", "raft=http://127.0.0.1:7001&etcd=http://127.0.0.1:4001"), ("b", "garbage")])
        #expect(table.count == 1)
        #expect(table[Member.id(forName: "a")]?.clientURL == "http://127.0.0.1:4001")
    }
}
