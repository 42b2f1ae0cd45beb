import Synchronization
import Testing

@testable import Raft

/// `publishedItself()`: what the daemon waits for before telling systemd it is ready (READY=1),
/// as etcd waits for its member to publish itself to the cluster.
@Suite("Published to the cluster: when a member counts as ready", .serialized, .timeLimit(.minutes(3)))
struct PublicationTests {
    @Test("A cluster of one is published as soon as it leads; a stop after that changes nothing")
    func aClusterOfOne() async throws {
        let member = TestMember("solo")
        try await member.start()
        #expect(await member.server!.publishedItself())
        await member.stop()
    }

    @Test("A founder whose peers are not up is not published until they are; stopped first, it never is")
    func waitsForItsQuorum() async throws {
        let members = [TestMember("p1"), TestMember("p2")]
        let founders = members.map(\.member)
        try await members[0].start(initialCluster: founders)
        let server = members[0].server!
        // A second and a half (three election timeouts at most) without a quorum: not published.
        let seen = Mutex<Bool?>(nil)
        let waiter = Task { let published = await server.publishedItself(); seen.withLock { $0 = published } }
        try await Task.sleep(for: .milliseconds(1500))
        #expect(seen.withLock { $0 } == nil, "published without a quorum")
        try await members[1].start(initialCluster: founders)
        await waiter.value
        #expect(seen.withLock { $0 } == true)
        for member in members { await member.stop() }

        let alone = TestMember("p3")
        try await alone.start(initialCluster: [alone.member, TestMember("p4").member])
        let lonely = alone.server!
        async let outcome = lonely.publishedItself()
        await alone.stop()
        #expect(await outcome == false)
    }
}
