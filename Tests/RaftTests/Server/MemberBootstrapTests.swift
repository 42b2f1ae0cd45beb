import Logging
import RaftCore
import Testing

@testable import Raft

/// What a data directory and the bootstrap flags make of a starting member, decided on a
/// directory alone: founding, joining, restarting, and the mistakes named.
@Suite("Starting a member from its data directory")
struct MemberBootstrapTests {
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    static let names = ["c", "a", "b"]
    static func member(_ name: String) -> Member {
        Member(name: name, peerURL: "http://\(name):2380", clientURL: "http://\(name):2379")
    }

    func configuration(_ name: String, in directory: TemporaryDirectory, initialCluster: [String] = [], join: [String] = []) -> RaftServerConfiguration {
        var configuration = RaftServerConfiguration(member: Self.member(name), dataDirectory: directory.path + "/data", peerListenPort: 2380)
        configuration.initialCluster = initialCluster.map(Self.member)
        configuration.join = join
        configuration.clusterToken = "token"
        return configuration
    }

    @Test("A founder writes one committed membership entry per founder, in name order, and records both IDs")
    func founding() throws {
        let directory = TemporaryDirectory()
        let bootstrap = try MemberBootstrap.open(configuration("b", in: directory, initialCluster: Self.names), logger: Self.logger)
        let storage = bootstrap.storage
        #expect(!bootstrap.isJoining)
        #expect(bootstrap.memberID == Self.member("b").id)
        let founders = ["a", "b", "c"].map(Self.member)
        #expect(bootstrap.clusterID == ClusterIdentity.id(token: "token", founders: founders))
        #expect(ClusterIdentity.load(directory.path + "/data") == bootstrap.clusterID)
        #expect(ClusterIdentity.loadMemberID(directory.path + "/data") == bootstrap.memberID)
        #expect(storage.initialState().0 == HardState(term: 1, vote: 0, commit: 3))
        let entries = try storage.entries(1, 4, maxBytes: .max)
        #expect(entries.map(\.term) == [1, 1, 1])
        let added = entries.compactMap { ConfChange(encoded: $0.data) }
        #expect(added.map(\.nodeID) == founders.map(\.id))
        #expect(added.allSatisfy { $0.kind == .addVoter })
        #expect(added.compactMap { Member(encoded: $0.context)?.name } == ["a", "b", "c"])
    }

    @Test("Every founder writes the same first entries, so their logs agree from index 1")
    func foundersAgree() throws {
        let logs = try ["a", "b", "c"].map { name in
            try MemberBootstrap.open(configuration(name, in: TemporaryDirectory(), initialCluster: Self.names), logger: Self.logger).storage
                .entries(1, 4, maxBytes: .max)
        }
        #expect(logs[0] == logs[1] && logs[1] == logs[2])
    }

    @Test("A directory with a log restarts the member it records: other bootstrap flags change nothing")
    func restart() throws {
        let directory = TemporaryDirectory()
        let first = try MemberBootstrap.open(configuration("b", in: directory, initialCluster: Self.names), logger: Self.logger)
        let lastIndex = first.storage.lastIndex()
        // An ID the cluster assigned (a member added by URL) is kept across restarts.
        try ClusterIdentity.storeMemberID(42, in: directory.path + "/data")
        let again = try MemberBootstrap.open(configuration("b", in: directory, initialCluster: ["b", "x"], join: ["http://a:2380"]), logger: Self.logger)
        #expect(!again.isJoining)
        #expect(again.memberID == 42)
        #expect(again.clusterID == first.clusterID)
        #expect(again.storage.lastIndex() == lastIndex)
    }

    @Test("A new joiner writes nothing and knows no cluster; stopped before its log holds anything, it joins again")
    func joining() throws {
        let directory = TemporaryDirectory()
        let joiner = try MemberBootstrap.open(configuration("d", in: directory, join: ["http://a:2380"]), logger: Self.logger)
        #expect(joiner.isJoining)
        #expect(joiner.clusterID == 0)
        #expect(joiner.storage.lastIndex() == 0)
        // The cluster gave it another ID (`member add` by URL), recorded as a join records it.
        try ClusterIdentity.storeMemberID(42, in: directory.path + "/data")
        let again = try MemberBootstrap.open(configuration("d", in: directory, join: ["http://a:2380"]), logger: Self.logger)
        #expect(again.isJoining)
        // Its directory exists now (an empty log): the ID the cluster assigned it is kept.
        #expect(again.memberID == 42)
    }

    @Test("A member missing from --initial-cluster is refused, naming itself")
    func notAFounder() {
        #expect(throws: JoinError(description: "x is not in --initial-cluster")) {
            try MemberBootstrap.open(configuration("x", in: TemporaryDirectory(), initialCluster: Self.names), logger: Self.logger)
        }
    }
}
