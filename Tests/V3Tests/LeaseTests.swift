import BinaryCodec
import EtcdAPI
import Foundation
import Synchronization
import Raft
import Testing

@testable import V3

/// Leases in the store (replicated) and in the lessor (the leader's clock), with time moved by
/// the test.
@Suite(.timeLimit(.minutes(3))) struct LeaseTests {
    final class TestClock: Sendable {
        let instant = Mutex(ContinuousClock.now)
        func advance(_ duration: Duration) { instant.withLock { $0 = $0 + duration } }
        var now: ContinuousClock.Instant { instant.withLock { $0 } }
    }

    func grant(_ id: Int64, ttl: Int64) -> V3Request {
        var request = Etcdserverpb_LeaseGrantRequest()
        request.id = id
        request.ttl = ttl
        return .leaseGrant(request)
    }

    func put(_ key: String, lease: Int64) -> V3Request {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data("v".utf8)
        request.lease = lease
        return .put(request)
    }

    func revoke(_ id: Int64) -> V3Request {
        var request = Etcdserverpb_LeaseRevokeRequest()
        request.id = id
        return .leaseRevoke(request)
    }

    func renew(_ id: Int64) -> V3Request {
        var request = Etcdserverpb_LeaseKeepAliveRequest()
        request.id = id
        return .leaseRenew(request)
    }

    @Test func revokingALeaseDeletesItsKeysAtOneRevision() throws {
        var store = MVCCStore()
        try store.grantLease(7, ttl: 10)
        #expect(throws: V3Error.leaseExists) { try store.grantLease(7, ttl: 10) }
        #expect(throws: V3Error.leaseTTLTooLarge) { try store.grantLease(8, ttl: MVCCStore.maxLeaseTTL + 1) }
        store.put(Array("a".utf8), [1], lease: 7, at: store.nextRevision)
        store.put(Array("b".utf8), [1], lease: 7, at: store.nextRevision)
        store.put(Array("c".utf8), [1], lease: 0, at: store.nextRevision)
        store.put(Array("b".utf8), [2], lease: 0, at: store.nextRevision)  // detached by a put without it
        #expect(store.leases[7]?.keys == [Array("a".utf8)])
        let events = try store.revokeLease(7)
        #expect(events.map(\.kind) == [.delete])
        #expect(store.current(Array("a".utf8)) == nil && store.current(Array("b".utf8)) != nil)
        #expect(throws: V3Error.leaseNotFound) { try store.revokeLease(7) }
        let copy = try MVCCStore(encoded: store.encoded())
        #expect(copy.leases == store.leases)
    }

    @Test func theLeaderRevokesOnlyWhatRanOutByItsClock() {
        let clock = TestClock()
        let machine = V3StateMachine(now: { clock.now })
        _ = machine.apply(grant(1, ttl: 5), at: 1)
        _ = machine.apply(put("held", lease: 1), at: 2)
        #expect(machine.dueLeases().isEmpty)
        clock.advance(.seconds(4))
        _ = machine.apply(renew(1), at: 3)  // a keep-alive restarts the clock
        clock.advance(.seconds(4))
        #expect(machine.dueLeases().isEmpty)
        #expect(machine.remainingTTL(1)?.remaining == 1)
        clock.advance(.seconds(2))
        #expect(machine.dueLeases() == [1])
        #expect(machine.dueLeases().isEmpty, "proposed once, not again while in flight")
        machine.revocationFailed(1)
        #expect(machine.dueLeases() == [1], "a failed proposal is retried")
        _ = machine.apply(revoke(1), at: 4)
        #expect(machine.read { $0.current(Array("held".utf8)) } == nil)
        #expect(machine.remainingTTL(1) == nil)
    }

    @Test func aNewLeaderGivesEveryLeaseItsFullTTL() {
        let clock = TestClock()
        let machine = V3StateMachine(now: { clock.now })
        _ = machine.apply(grant(9, ttl: 3), at: 1)
        clock.advance(.seconds(10))  // long past due by this member's clock...
        machine.leadershipChanged(isLeader: true)  // ...but it only now became leader
        #expect(machine.dueLeases().isEmpty)
        clock.advance(.seconds(3))
        #expect(machine.dueLeases() == [9])
    }

    /// Keep-alives are the leader's lessor's alone (as in etcd): no log entry; the answer says
    /// the TTL, 0 for a lease being revoked, and "none" for an unknown lease.
    @Test func aKeepAliveOnTheLeaderRestartsTheClockWithoutTheLog() {
        let clock = TestClock()
        let machine = V3StateMachine(now: { clock.now })
        _ = machine.apply(grant(1, ttl: 5), at: 1)
        let revision = machine.read { $0.revision }
        // Through the codec, as a follower's question reaches the leader.
        func ask(_ query: PeerQuery) -> PeerAnswer? {
            let asked = V3StateMachine.decode(query: V3StateMachine.encode(query: query)[...])!
            return machine.answerAsLeader(asked).flatMap { V3StateMachine.decode(answer: V3StateMachine.encode(answer: $0)[...]) }
        }
        func ttl(_ answer: PeerAnswer?) -> Int64? {
            switch answer {
            case .renewed(let ttl): ttl
            case .timeToLive(let remaining, _, _): remaining
            default: nil
            }
        }
        clock.advance(.seconds(4))
        #expect(ttl(ask(.keepAlive(1))) == 5)
        clock.advance(.seconds(4))
        #expect(machine.dueLeases().isEmpty, "the keep-alive restarted its clock")
        #expect(ttl(ask(.timeToLive(1))) == 1, "time-to-live by the same clock")
        #expect(machine.read { $0.revision } == revision, "and nothing was written")
        #expect(ask(.keepAlive(42)) == .notFound, "an unknown lease")
        clock.advance(.seconds(2))
        #expect(ttl(ask(.keepAlive(1))) == 0, "too late: past its deadline, though not yet being revoked")
        #expect(machine.dueLeases() == [1])
        #expect(ttl(ask(.keepAlive(1))) == 0, "too late: its revocation is under way")
    }
}
