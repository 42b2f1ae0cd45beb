import EtcdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import Testing

@testable import V3

/// The Lock and Election services through a real gRPC client and server: a second locker waits
/// for the first to unlock; candidates queue behind the leader, proclaim, resign and are
/// observed, with etcd's errors for a leader that is not one.
@Suite("Lock and Election through gRPC", .serialized, .timeLimit(.minutes(3)))
struct RecipesTests {
    static func withClient(_ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, WatchStreamTests.Server) async throws -> Void) async throws {
        let server = WatchStreamTests.Server()
        try await server.start(progressInterval: .seconds(600))
        do {
            let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: server.v3.port), transportSecurity: .plaintext)
            try await withGRPCClient(transport: transport) { client in try await body(client, server) }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// For calls that wait (a lock, a campaign, an observer): a call left waiting would keep the
    /// client, and so the test, from ever finishing.
    static var bounded: CallOptions {
        var options = CallOptions.defaults
        options.timeout = .seconds(90)
        return options
    }

    /// Waits (at most 5 s) until `count` keys stand under `prefix`: a waiter has queued.
    static func waitForKeys(_ server: WatchStreamTests.Server, _ prefix: String, _ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let found = server.backend.machine.read { store in
                store.range(Array(prefix.utf8), Recipes.prefixEnd(Array(prefix.utf8)), at: store.revision, limit: 0).count
            }
            if found >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("\(count) keys never stood under \(prefix)")
    }

    static func grant(_ client: GRPCClient<HTTP2ClientTransport.Posix>, ttl: Int64 = 30) async throws -> Int64 {
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.ttl = ttl
        return try await Etcdserverpb_Lease.Client(wrapping: client).leaseGrant(grant).id
    }

    @Test("A second locker waits until the first unlocks; a revoked lease unlocks too")
    func lockWaitsForTheHolder() async throws {
        try await Self.withClient { client, server in
            let locks = V3lockpb_Lock.Client(wrapping: client)
            let (first, second) = (try await Self.grant(client), try await Self.grant(client))
            var request = V3lockpb_LockRequest()
            request.name = Data("job".utf8)
            request.lease = first
            let held = try await locks.lock(request)
            #expect(held.key == Data("job/\(String(first, radix: 16))".utf8))
            request.lease = second
            let secondRequest = request
            let returned = Mutex(false)
            let waiting = Task {
                defer { returned.withLock { $0 = true } }
                return try await V3lockpb_Lock.Client(wrapping: client).lock(secondRequest, options: Self.bounded)
            }
            // Queued (its key is in), and still waiting: it has not returned.
            try await Self.waitForKeys(server, "job/", 2)
            #expect(returned.withLock { $0 } == false)
            var unlock = V3lockpb_UnlockRequest()
            unlock.key = held.key
            let unlocked = try await locks.unlock(unlock)
            let got = try await waiting.value
            #expect(got.key == Data("job/\(String(second, radix: 16))".utf8))
            #expect(got.header.revision >= unlocked.header.revision)

            // The holder's lease revoked: the lock passes on.
            let third = try await Self.grant(client)
            request.lease = third
            let thirdRequest = request
            let next = Task { try await V3lockpb_Lock.Client(wrapping: client).lock(thirdRequest, options: Self.bounded) }
            try await Self.waitForKeys(server, "job/", 2)
            var revoke = Etcdserverpb_LeaseRevokeRequest()
            revoke.id = second
            _ = try await Etcdserverpb_Lease.Client(wrapping: client).leaseRevoke(revoke)
            #expect(try await next.value.key == Data("job/\(String(third, radix: 16))".utf8))
        }
    }

    @Test("Candidates queue behind the leader; proclaim, observe, resign; errors for one that does not lead")
    func election() async throws {
        try await Self.withClient { client, server in
            let election = V3electionpb_Election.Client(wrapping: client)
            var leaderRequest = V3electionpb_LeaderRequest()
            leaderRequest.name = Data("web".utf8)
            await #expect(throws: RPCError.self) { try await election.leader(leaderRequest) }
            do {
                _ = try await election.leader(leaderRequest)
            } catch let error as RPCError {
                #expect(error.code == .unknown && error.message == "election: no leader")
            }

            let (a, b) = (try await Self.grant(client), try await Self.grant(client))
            var campaign = V3electionpb_CampaignRequest()
            campaign.name = Data("web".utf8)
            campaign.lease = a
            campaign.value = Data("a".utf8)
            let won = try await election.campaign(campaign)
            #expect(won.leader.key == Data("web/\(String(a, radix: 16))".utf8))
            #expect(won.leader.lease == a)

            // An observer sees the current leader, then every change.
            let options = Self.bounded
            let observeRequest = leaderRequest
            let seen = Mutex<[String]>([])
            let observed = Task {
                try await V3electionpb_Election.Client(wrapping: client).observe(observeRequest, options: options) { response in
                    for try await message in response.messages {
                        let count = seen.withLock { $0.append(String(decoding: message.kv.value, as: UTF8.self)); return $0.count }
                        if count == 3 { break }
                    }
                    return seen.withLock { $0 }
                }
            }
            // The observer is in place (it has seen the leader) before anything changes: else it
            // could start after the proclamation, see "a2" first, and wait for a third value.
            let deadline = ContinuousClock.now + .seconds(20)
            while seen.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(seen.withLock { $0 } == ["a"])
            campaign.lease = b
            campaign.value = Data("b".utf8)
            let secondCampaign = campaign
            let waiting = Task { try await V3electionpb_Election.Client(wrapping: client).campaign(secondCampaign, options: options) }
            try await Self.waitForKeys(server, "web/", 2)

            var proclaim = V3electionpb_ProclaimRequest()
            proclaim.leader = won.leader
            proclaim.value = Data("a2".utf8)
            _ = try await election.proclaim(proclaim)
            #expect(String(decoding: try await election.leader(leaderRequest).kv.value, as: UTF8.self) == "a2")

            var resign = V3electionpb_ResignRequest()
            resign.leader = won.leader
            _ = try await election.resign(resign)
            let second = try await waiting.value
            #expect(second.leader.key == Data("web/\(String(b, radix: 16))".utf8))
            #expect(try await observed.value == ["a", "a2", "b"])

            // The old leader no longer leads.
            do {
                _ = try await election.proclaim(proclaim)
                Issue.record("a resigned leader proclaimed")
            } catch let error as RPCError {
                #expect(error.code == .unknown && error.message == "election: not leader")
            }
            do {
                _ = try await election.proclaim(V3electionpb_ProclaimRequest())
                Issue.record("a proclaim without a leader key went through")
            } catch let error as RPCError {
                #expect(error.message == #""leader" field must be provided"#)
            }
        }
    }
}
