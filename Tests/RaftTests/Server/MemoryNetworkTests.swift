import NIOCore
import NIOPosix
import RaftCore
import Synchronization
import Testing

@testable import Raft

/// The in-process network the manual-clock tests run on: what the server relies on from TCP
/// (order per connection, answers on the connection a question came on, refusals, a peer gone
/// when it stops) holds, and cuts behave as partitions.
@Suite("The in-memory peer network")
struct MemoryNetworkTests {
    /// One member's end: the frames it received, with the connection each came on.
    final class Peer: Sendable {
        let network: any PeerNetwork
        let inbox = Inbox()

        final class Inbox: Sendable {
            let items = Mutex<[(frame: PeerFrame, connection: any PeerConnection)]>([])
        }

        init(_ memory: MemoryNetwork, at name: String, clusterID: UInt64 = 7) async throws {
            let inbox = self.inbox
            network = memory.maker { frame, connection in inbox.items.withLock { $0.append((frame, connection)) } }
            network.clusterID = clusterID
            _ = try await network.listen(host: name, port: 2380, plaintext: true)
        }

        var frames: [PeerFrame] { inbox.items.withLock { $0.map(\.frame) } }
    }

    static func heartbeat(_ term: UInt64) -> PeerFrame { .raft(Message(kind: .heartbeat, to: 2, from: 1, term: term)) }
    static let loop = MultiThreadedEventLoopGroup.singleton.next()

    @Test("Frames reach the peer in order, through the codec; its answer comes back on the sender's connection")
    func orderAndAnswers() async throws {
        let memory = MemoryNetwork(loop: Self.loop)
        let a = try await Peer(memory, at: "a"), b = try await Peer(memory, at: "b")
        #expect(!a.network.isConnected(to: "http://b:2380"))
        #expect(a.network.send((1...5).map(Self.heartbeat), to: "http://b:2380"))
        #expect(a.network.isConnected(to: "http://b:2380"))
        let terms: [UInt64] = b.frames.map { if case .raft(let m) = $0 { m.term } else { 0 } }
        #expect(terms == [1, 2, 3, 4, 5])
        // b answers on the connection the frame came on; a hears it on its own end of it.
        let inbound = try #require(b.inbox.items.withLock { $0.first?.connection })
        inbound.reply(.leaderAnswer(id: 9, answer: [1]))
        #expect(a.frames == [.leaderAnswer(id: 9, answer: [1])])
        // One connection, seen from both ends, each with an ID stable across frames.
        #expect(b.inbox.items.withLock { Set($0.map(\.connection.id)) }.count == 1)
        #expect(a.inbox.items.withLock { $0[0].connection.id } != inbound.id)
    }

    @Test("A connection of its own: written, answered on it, and closed on both ends")
    func dialed() async throws {
        let memory = MemoryNetwork(loop: Self.loop)
        let a = try await Peer(memory, at: "a"), b = try await Peer(memory, at: "b")
        let connection = try await a.network.dial("http://b:2380", connectTimeout: .seconds(1))
        try await connection.write(.memberQuery([1]))
        let inbound = try #require(b.inbox.items.withLock { $0.first?.connection })
        inbound.reply(.memberAnswer([2]))
        #expect(a.inbox.items.withLock { $0.map(\.connection.id) } == [connection.id])
        connection.close()
        try await inbound.closed.get()
        await #expect(throws: (any Error).self) { try await connection.write(.memberQuery([3])) }
        await #expect(throws: (any Error).self) { try await a.network.dial("http://nobody:2380", connectTimeout: .seconds(1)) }
    }

    @Test("A cut ends the connection and refuses new ones until healed")
    func cut() async throws {
        let memory = MemoryNetwork(loop: Self.loop)
        let a = try await Peer(memory, at: "a"), b = try await Peer(memory, at: "b"), c = try await Peer(memory, at: "c")
        #expect(a.network.send([Self.heartbeat(1)], to: "http://b:2380"))
        memory.cut("http://a:2380", "http://b:2380")
        #expect(!a.network.isConnected(to: "http://b:2380"))
        #expect(!a.network.send([Self.heartbeat(2)], to: "http://b:2380"))
        #expect(!b.network.send([Self.heartbeat(2)], to: "http://a:2380"))
        await #expect(throws: (any Error).self) { try await a.network.dial("http://b:2380", connectTimeout: .seconds(1)) }
        #expect(a.network.send([Self.heartbeat(3)], to: "http://c:2380"), "only the pair cut apart is cut")
        memory.heal()
        #expect(a.network.send([Self.heartbeat(4)], to: "http://b:2380"))
        #expect(b.frames.count == 2)
        #expect(c.frames.count == 1)
    }

    @Test("Members of different clusters never talk: the dialer is told why")
    func clusterMismatch() async throws {
        let memory = MemoryNetwork(loop: Self.loop)
        let a = try await Peer(memory, at: "a", clusterID: 1), b = try await Peer(memory, at: "b", clusterID: 2)
        #expect(!a.network.send([Self.heartbeat(1)], to: "http://b:2380"))
        #expect(b.frames.isEmpty)
        guard case .refused(let reason) = a.frames.first else {
            Issue.record("the dialer was not told")
            return
        }
        #expect(reason.contains("cluster ID mismatch"))
    }

    @Test("A member that stops: its peers' connections to it end, and it sends nothing more")
    func stopped() async throws {
        let memory = MemoryNetwork(loop: Self.loop)
        let a = try await Peer(memory, at: "a"), b = try await Peer(memory, at: "b")
        #expect(a.network.send([Self.heartbeat(1)], to: "http://b:2380"))
        let inbound = try #require(b.inbox.items.withLock { $0.first?.connection })
        await b.network.close()
        try await inbound.closed.get()
        #expect(!a.network.isConnected(to: "http://b:2380"))
        #expect(!a.network.send([Self.heartbeat(2)], to: "http://b:2380"))
        #expect(!b.network.send([Self.heartbeat(3)], to: "http://a:2380"), "a stopped member's last Ready reaches nobody")
        #expect(a.frames.isEmpty)
        // Its address is free again: a restart listens there.
        _ = try await Peer(memory, at: "b")
    }
}
