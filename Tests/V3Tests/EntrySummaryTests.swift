import EtcdAPI
import Foundation
import Raft
import SingleNode
import Testing

@testable import V3

/// How the live Raft view names the entries in each member's log.
@Suite("Log entries in words, for the live view", .timeLimit(.minutes(3)))
struct EntrySummaryTests {
    @Test("v3 requests: the operation and its key, a transaction's shape, a lease in hex, the user it runs as")
    func v3() {
        var put = Etcdserverpb_PutRequest()
        put.key = Data("k".utf8)
        #expect(V3StateMachine.summarize(.put(put)) == "v3 put k")
        var delete = Etcdserverpb_DeleteRangeRequest()
        delete.key = Data("a".utf8)
        delete.rangeEnd = Data("b".utf8)
        #expect(V3StateMachine.summarize(.deleteRange(delete)) == "v3 delete range from a")
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Etcdserverpb_Compare()]
        txn.success = [Etcdserverpb_RequestOp(), Etcdserverpb_RequestOp()]
        #expect(V3StateMachine.summarize(.txn(txn)) == "v3 txn (1 compares, 2/0 ops)")
        var grant = Etcdserverpb_LeaseGrantRequest()
        (grant.id, grant.ttl) = (255, 10)
        #expect(V3StateMachine.summarize(.leaseGrant(grant)) == "v3 lease grant ff ttl 10s")
        var compact = Etcdserverpb_CompactionRequest()
        compact.revision = 42
        #expect(V3StateMachine.summarize(.compact(compact)) == "v3 compact 42")
        #expect(V3StateMachine.summarize(.asUser(AuthInfo(user: "alice", revision: 3), .put(put))) == "v3 put k as alice")
        #expect(V3StateMachine.summarize(.auth(.userAdd(name: "bob", passwordHash: [], noPassword: true))) == "v3 auth userAdd")
        // A binary key is shown in hex, a long one cut short.
        put.key = Data([0, 1, 0xFF])
        #expect(V3StateMachine.summarize(.put(put)) == "v3 put 0x0001ff")
        put.key = Data(String(repeating: "x", count: 60).utf8)
        #expect(V3StateMachine.summarize(.put(put)) == "v3 put " + String(repeating: "x", count: 40) + "…")
    }

    @Test("v1 commands: the command and its key or member")
    func v1() {
        let now = Timestamp(seconds: 0)
        #expect(StoreMachine.summarize(Command(.set(key: "/foo", value: "1", expiration: nil), time: now)) == "v1 set /foo")
        #expect(StoreMachine.summarize(Command(.testAndSet(key: "/foo", prevValue: "1", value: "2", expiration: nil), time: now)) == "v1 test-and-set /foo")
        #expect(StoreMachine.summarize(Command(.join(name: "infra4", raftURL: "", etcdURL: ""), time: now)) == "v1 join infra4")
    }
}
