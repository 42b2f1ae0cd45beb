import NIOCore
import SingleNode
import Synchronization
import Testing

@testable import Raft

/// The joining side of the v1 join, with the peers played by a script: who is asked, in which
/// order, how redirects and refusals are followed, and how long it pauses between rounds.
@Suite("Joining a cluster: the asking side")
struct JoinClientTests {
    static let me = Member(name: "d", peerURL: "http://127.0.0.1:7004", clientURL: "http://127.0.0.1:4004")
    static let members = [Member(name: "a", peerURL: "http://127.0.0.1:7001", clientURL: "http://127.0.0.1:4001")]

    /// Peers answering from a script, by URL; every question and pause is recorded.
    final class Script: Sendable {
        let answers: Mutex<[String: [Result<PeerFrame.JoinAnswer, JoinError>]]>
        let asked = Mutex<[String]>([])
        let pauses = Mutex<[TimeAmount]>([])

        init(_ answers: [String: [Result<PeerFrame.JoinAnswer, JoinError>]]) { self.answers = Mutex(answers) }

        func client(rounds: Int = 20) -> JoinClient {
            var client = JoinClient(member: JoinClientTests.me, ask: { url, frame in
                guard case .joinRequest(let name, let peerURL, _) = frame, name == "d", peerURL == JoinClientTests.me.peerURL else {
                    throw JoinError(description: "not a join request for d: \(frame)")
                }
                self.asked.withLock { $0.append(url) }
                let next = self.answers.withLock { answers -> Result<PeerFrame.JoinAnswer, JoinError>? in
                    guard var queue = answers[url], !queue.isEmpty else { return nil }
                    let first = queue.removeFirst()
                    answers[url] = queue.isEmpty ? [first] : queue  // the last answer repeats
                    return first
                }
                guard let next else { throw JoinError(description: "connection refused") }
                return .joinResponse(try next.get())
            }, pause: { amount in self.pauses.withLock { $0.append(amount) } })
            client.rounds = rounds
            return client
        }
    }

    @Test("Asked only of itself, it refuses at once, naming the mistake")
    func ownAddress() async throws {
        let script = Script([:])
        await #expect(throws: JoinError.self) { try await script.client().join(through: ["127.0.0.1:7004"]) }
        #expect(script.asked.withLock { $0 }.isEmpty)
    }

    @Test("A follower's redirect is followed to the leader, whose answer is the join")
    func redirect() async throws {
        let script = Script([
            "127.0.0.1:7002": [.success(.redirect(leaderPeerURL: "http://127.0.0.1:7001"))],
            "http://127.0.0.1:7001": [.success(.joined(id: 42, members: JoinClientTests.members, clusterID: 7))],
        ])
        let joined = try await script.client().join(through: ["127.0.0.1:7002"])
        #expect(joined == JoinClient.Joined(id: 42, members: JoinClientTests.members, clusterID: 7, through: "http://127.0.0.1:7001"))
        #expect(script.asked.withLock { $0 } == ["127.0.0.1:7002", "http://127.0.0.1:7001"])
        #expect(script.pauses.withLock { $0 }.isEmpty)
    }

    @Test("No leader yet, or nobody there: it tries the next peer, then pauses longer each round, up to a second")
    func retries() async throws {
        let script = Script([
            "127.0.0.1:7001": Array(repeating: .success(.refused("no leader yet; retry")), count: 6)
                + [.success(.joined(id: 42, members: JoinClientTests.members, clusterID: 0))],
        ])
        let joined = try await script.client().join(through: ["127.0.0.1:7009", "127.0.0.1:7001"])
        #expect(joined.id == 42 && joined.clusterID == 0)
        #expect(script.asked.withLock { $0 }.count == 14, "both peers asked in each of seven rounds")
        #expect(script.pauses.withLock { $0 } == [200, 400, 600, 800, 1000, 1000].map { .milliseconds($0) })
    }

    @Test("A refusal that asking again cannot change ends the join at once")
    func finalRefusals() async throws {
        for reason in [ErrorCode.noMorePeer.message, "the member ID 1 (name d) was removed from the cluster; start the machine under another name"] {
            let script = Script(["127.0.0.1:7001": [.success(.refused(reason))]])
            await #expect(throws: JoinError(description: reason)) { try await script.client().join(through: ["127.0.0.1:7001"]) }
            #expect(script.asked.withLock { $0 }.count == 1)
        }
    }

    @Test("After every round fails it gives up, naming the last error")
    func givesUp() async throws {
        let script = Script([:])
        do {
            _ = try await script.client(rounds: 3).join(through: ["127.0.0.1:7001"])
            Issue.record("joined nobody")
        } catch let error as JoinError {
            #expect(error.description == "cannot join the cluster via 127.0.0.1:7001: 127.0.0.1:7001: connection refused")
        }
        #expect(script.asked.withLock { $0 }.count == 3)
        #expect(script.pauses.withLock { $0 }.count == 3)
    }
}
