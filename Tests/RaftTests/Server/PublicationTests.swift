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
        // On the manual clock: "not published for three seconds" is a claim about the
        // protocol, not about how fast this machine ran.
        let cluster = ManualCluster(founders: ["p1", "p2"])
        try await cluster.start("p1")
        let server = cluster["p1"]
        let published = Flag(), answered = Flag()
        let waiter = Task {
            if await server.publishedItself() { published.set() }
            answered.set()
        }
        // Three seconds (up to three election timeouts) without a quorum: not published.
        await cluster.advance(by: .seconds(3))
        #expect(!answered.isSet, "published without a quorum")
        try await cluster.start("p2")
        try await cluster.advance(until: "p1 publishes itself") { answered.isSet }
        await waiter.value
        #expect(published.isSet)
        await cluster.stopAll()

        let lonely = ManualCluster(founders: ["p3", "p4"])
        try await lonely.start("p3")
        // The member is looked up here, not in the `async let`: its child task may first run
        // after `stopAll` has taken the member out of the cluster (it did, under CI's load, and
        // the lookup crashed). Asked before or after the stop, the answer must be false.
        let p3 = lonely["p3"]
        async let outcome = p3.publishedItself()
        await lonely.advance(by: .seconds(1))
        await lonely.stopAll()
        #expect(await outcome == false)
    }
}
