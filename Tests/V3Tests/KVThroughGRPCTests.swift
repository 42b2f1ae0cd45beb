import EtcdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

@testable import V3

/// The KV service through a real gRPC client and a real server: the calls the fast path serves
/// and one grpc-swift serves (a lease) on the same connection.
@Suite("KV calls through gRPC", .serialized, .timeLimit(.minutes(3)))
struct KVThroughGRPCTests {
    /// On both transports: the fast one must answer exactly as grpc-swift's own does.
    @Test("Put, Range, Txn, DeleteRange and Compact answer as etcd does; errors carry etcd's code and text", arguments: V3Server.Transport.allCases)
    func kvCalls(transport kind: V3Server.Transport) async throws {
        let server = WatchStreamTests.Server()
        defer { Task { await server.stop() } }
        try await server.start(progressInterval: .seconds(600), transport: kind)
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: server.v3.port), transportSecurity: .plaintext)
        try await withGRPCClient(transport: transport) { client in
            let kv = Etcdserverpb_KV.Client(wrapping: client)
            var put = Etcdserverpb_PutRequest()
            put.key = Data("fruit/apple".utf8)
            put.value = Data("red".utf8)
            let first = try await kv.put(put)
            #expect(first.header.revision == 2)
            #expect(first.header.memberID != 0 && first.header.clusterID != 0)
            put.key = Data("fruit/banana".utf8)
            put.value = Data("yellow".utf8)
            put.prevKv = true
            _ = try await kv.put(put)
            put.value = Data("green".utf8)
            let overwritten = try await kv.put(put)
            #expect(overwritten.prevKv.value == Data("yellow".utf8))

            var range = Etcdserverpb_RangeRequest()
            range.key = Data("fruit/".utf8)
            range.rangeEnd = Data("fruit0".utf8)
            let linearizable = try await kv.range(range)
            #expect(linearizable.kvs.map { String(decoding: $0.value, as: UTF8.self) } == ["red", "green"])
            #expect(linearizable.header.revision == 4)
            range.serializable = true
            range.revision = 3
            let past = try await kv.range(range)
            #expect(past.kvs.map { String(decoding: $0.value, as: UTF8.self) } == ["red", "yellow"])

            var txn = Etcdserverpb_TxnRequest()
            var compare = Etcdserverpb_Compare()
            compare.key = Data("fruit/apple".utf8)
            compare.target = .value
            compare.result = .equal
            compare.value = Data("red".utf8)
            txn.compare = [compare]
            var cherry = Etcdserverpb_PutRequest()
            cherry.key = Data("fruit/cherry".utf8)
            cherry.value = Data("dark".utf8)
            var op = Etcdserverpb_RequestOp()
            op.requestPut = cherry
            txn.success = [op]
            let committed = try await kv.txn(txn)
            #expect(committed.succeeded)
            #expect(committed.header.revision == 5)
            #expect(committed.responses.first?.responsePut.header.revision == 5)

            var compact = Etcdserverpb_CompactionRequest()
            compact.revision = 5
            _ = try await kv.compact(compact)
            range.revision = 3
            let error = await #expect(throws: RPCError.self) { try await kv.range(range) }
            #expect(error?.code == .outOfRange)
            #expect(error?.message == "etcdserver: mvcc: required revision has been compacted")

            var delete = Etcdserverpb_DeleteRangeRequest()
            delete.key = Data("fruit/".utf8)
            delete.rangeEnd = Data("fruit0".utf8)
            let deleted = try await kv.deleteRange(delete)
            #expect(deleted.deleted == 3)

            // Not served by the fast path: grpc-swift answers on the same connection.
            let lease = Etcdserverpb_Lease.Client(wrapping: client)
            var grant = Etcdserverpb_LeaseGrantRequest()
            grant.ttl = 60
            let granted = try await lease.leaseGrant(grant)
            #expect(granted.id != 0 && granted.ttl == 60)
        }
    }
}
