import Testing

@testable import Raft
import RaftCore
import RaftDisk

/// `--pre-vote` reaches the core the server runs: a member whose election timeout fires asks
/// first with pre-vote (its term stays), and campaigns at once without it (its term moves).
@Suite("--pre-vote, through the server's configuration", .timeLimit(.minutes(3)))
struct PreVoteFlagTests {
    func campaign(preVote: Bool) throws -> (Role, UInt64) {
        let directory = TemporaryDirectory()
        let member = Member(name: "m1", peerURL: "http://127.0.0.1:1", clientURL: "")
        var configuration = RaftServerConfiguration(member: member, dataDirectory: directory.path, peerListenPort: 1)
        configuration.preVote = preVote
        // Three voters, so that no vote of its own can end the campaign.
        let storage = try DiskStorage.open(directory: directory.path, initialConfState: ConfState(voters: [member.id, 2, 3]))
        var node = RaftNode(config: configuration.raftConfig(id: member.id, applied: storage.snapshotMetadata.index), storage: storage)
        let before = node.term
        for _ in 0..<(2 * configuration.electionTicks) where node.role == .follower { node.tick() }
        return (node.role, node.term - before)
    }

    @Test("With pre-vote (the default here, as in etcd 3.5) the member asks first and keeps its term")
    func withPreVote() throws {
        let (role, termMoved) = try campaign(preVote: true)
        #expect(role == .preCandidate)
        #expect(termMoved == 0)
    }

    @Test("With --pre-vote=false (etcd 3.4's default) it campaigns at once, in a new term")
    func withoutPreVote() throws {
        let (role, termMoved) = try campaign(preVote: false)
        #expect(role == .candidate)
        #expect(termMoved == 1)
    }
}
