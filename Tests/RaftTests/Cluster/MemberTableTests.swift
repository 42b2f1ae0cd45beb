import RaftCore
import SingleNode
import Testing

@testable import Raft

/// What applied membership changes make of the member table and of `/_etcd/machines`.
@Suite("Applying membership changes to the member table")
struct MemberTableTests {
    static let a = Member(name: "a", peerURL: "http://a:2380", clientURL: "http://a:2379")
    static let d = Member(name: "d", peerURL: "http://d:2380", clientURL: "http://d:2379")

    static func change(_ kind: ConfChange.Kind, _ id: NodeID, _ member: Member? = nil) -> ConfChange {
        ConfChange(kind, nodeID: id, context: member?.encoded ?? [])
    }

    @Test("A member added by name joins /_etcd/machines under its name")
    func addByName() {
        var members: [NodeID: Member] = [:], removed: Set<NodeID> = []
        let applied = MemberTable.apply(Self.change(.addVoter, Self.a.id, Self.a), to: &members, removed: &removed, selfID: 1)
        #expect(applied.record == .join(name: "a", raftURL: "http://a:2380", etcdURL: "http://a:2379"))
        #expect(members[Self.a.id]?.name == "a" && members[Self.a.id]?.id == Self.a.id)
    }

    @Test("A member added by URL is in the table but not in /_etcd/machines until it publishes; promoted, it keeps what it published")
    func addByURLThenPromote() {
        var members: [NodeID: Member] = [:], removed: Set<NodeID> = []
        let byURL = Member(name: "", peerURL: "http://d:2380", clientURL: "")
        let added = MemberTable.apply(Self.change(.addLearner, 42, byURL), to: &members, removed: &removed, selfID: 1)
        #expect(added.record == nil)
        #expect(members[42]?.peerURL == "http://d:2380")
        // It published its name and client URL (as `publish` commands do).
        members[42]?.name = "d"
        members[42]?.clientURL = "http://d:2379"
        let promoted = MemberTable.apply(Self.change(.addVoter, 42, byURL), to: &members, removed: &removed, selfID: 1)
        #expect(promoted.member?.name == "d" && promoted.member?.clientURL == "http://d:2379")
        #expect(promoted.record == .join(name: "d", raftURL: "http://d:2380", etcdURL: "http://d:2379"))
    }

    @Test("An update records the new peer URL as a publish, keeping the name and client URL")
    func update() {
        var members = [Self.a.id: Self.a], removed: Set<NodeID> = []
        let moved = Member(name: "", peerURL: "http://a2:2380", clientURL: "")
        let applied = MemberTable.apply(Self.change(.update, Self.a.id, moved), to: &members, removed: &removed, selfID: 1)
        #expect(applied.record == .publish(name: "a", raftURL: "http://a2:2380", etcdURL: "http://a:2379"))
        #expect(members[Self.a.id]?.peerURL == "http://a2:2380")
    }

    @Test("A removal leaves /_etcd/machines and is never let back in; a member's own removal is not recorded as such")
    func remove() {
        var members = [Self.a.id: Self.a, Self.d.id: Self.d], removed: Set<NodeID> = []
        let applied = MemberTable.apply(Self.change(.remove, Self.d.id), to: &members, removed: &removed, selfID: Self.a.id)
        #expect(applied.record == .leave(name: "d") && applied.removedName == "d")
        #expect(members.keys.sorted() == [Self.a.id] && removed == [Self.d.id])
        let own = MemberTable.apply(Self.change(.remove, Self.a.id), to: &members, removed: &removed, selfID: Self.a.id)
        #expect(own.record == .leave(name: "a"))
        #expect(members.isEmpty && removed == [Self.d.id])
        let unknown = MemberTable.apply(Self.change(.remove, 99), to: &members, removed: &removed, selfID: Self.a.id)
        #expect(unknown.record == nil && removed.contains(99))
    }

    @Test("A change whose member cannot be read changes nothing")
    func unreadable() {
        var members = [Self.a.id: Self.a], removed: Set<NodeID> = []
        let applied = MemberTable.apply(ConfChange(.addVoter, nodeID: 5, context: [0xFF]), to: &members, removed: &removed, selfID: 1)
        #expect(applied == MemberTable.Applied())
        #expect(members.count == 1)
    }
}
