import EtcdAPI
import Foundation
import GRPCCore
import NIOCore
import NIOPosix

/// What etcd's Lock and Election services are built from (clientv3's `concurrency` package,
/// which etcd's servers run against themselves): a session is a lease, and a waiter is a key on
/// it under a common prefix; the key created first wins, and each later one waits for the
/// deletion of the key created just before it. Nothing here is replicated state of its own:
/// only transactions, ranges and watches on the store, on behalf of the caller.
struct Recipes: Sendable {
    let backend: V3Backend
    let caller: AuthInfo?
    private var kv: KVCalls { KVCalls(backend: backend) }
    private var loop: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }

    /// The TTL of a session's lease when the request names none (clientv3's default).
    static let sessionTTL: Int64 = 60

    /// The lease the session runs on: the one given, or a new one of `sessionTTL` seconds
    /// (nobody keeps it alive: as etcd's servers, which orphan their sessions).
    func sessionLease(_ lease: Int64) async throws -> Int64 {
        if lease != 0 { return lease }
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.id = Int64.random(in: 1...Int64.max)
        grant.ttl = Self.sessionTTL
        let applied = try await backend.write(.leaseGrant(grant), from: .client(caller))
        guard case .leaseGrant(let response) = applied.response else { throw KVCalls.unexpected }
        return response.id
    }

    /// A waiter's key: the prefix, then the lease in hex (clientv3's "%s%x").
    static func key(prefix: [UInt8], lease: Int64) -> [UInt8] { prefix + Array(String(lease, radix: 16).utf8) }

    /// The end of the range of keys starting with `prefix`.
    static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]
    }

    func txn(_ request: Etcdserverpb_TxnRequest) async throws -> Etcdserverpb_TxnResponse {
        try await kv.txn(request, on: loop, as: caller).get()
    }

    func range(_ request: Etcdserverpb_RangeRequest) async throws -> Etcdserverpb_RangeResponse {
        try await kv.range(request, on: loop, as: caller).get()
    }

    func delete(_ key: [UInt8]) async throws -> Etcdserverpb_DeleteRangeResponse {
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = Data(key)
        return try await kv.deleteRange(request, on: loop, as: caller).get()
    }

    /// The key under `prefix` created first (clientv3's WithFirstCreate) or, with
    /// `maxCreateRevision`, the last one created at or before it (WithLastCreate).
    static func byCreation(_ prefix: [UInt8], first: Bool, maxCreateRevision: Int64 = 0) -> Etcdserverpb_RangeRequest {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data(prefix)
        request.rangeEnd = Data(prefixEnd(prefix))
        request.sortTarget = .create
        request.sortOrder = first ? .ascend : .descend
        request.limit = 1
        request.maxCreateRevision = maxCreateRevision
        return request
    }

    static func compare(createRevisionOf key: [UInt8], equals revision: Int64) -> Etcdserverpb_Compare {
        var compare = Etcdserverpb_Compare()
        compare.key = Data(key)
        compare.target = .create
        compare.result = .equal
        compare.createRevision = revision
        return compare
    }

    static func put(_ key: [UInt8], _ value: [UInt8], lease: Int64) -> Etcdserverpb_RequestOp {
        var put = Etcdserverpb_PutRequest()
        put.key = Data(key)
        put.value = Data(value)
        put.lease = lease
        var op = Etcdserverpb_RequestOp()
        op.requestPut = put
        return op
    }

    static func get(_ request: Etcdserverpb_RangeRequest) -> Etcdserverpb_RequestOp {
        var op = Etcdserverpb_RequestOp()
        op.requestRange = request
        return op
    }

    static func get(_ key: [UInt8]) -> Etcdserverpb_RequestOp {
        var range = Etcdserverpb_RangeRequest()
        range.key = Data(key)
        return get(range)
    }

    static func delete(_ key: [UInt8]) -> Etcdserverpb_RequestOp {
        var delete = Etcdserverpb_DeleteRangeRequest()
        delete.key = Data(key)
        var op = Etcdserverpb_RequestOp()
        op.requestDeleteRange = delete
        return op
    }

    /// Waits until every key under `prefix` created at or before `maxCreateRevision` is gone,
    /// one at a time, the newest first (clientv3's waitDeletes); answers the header of the
    /// read that found none left.
    func waitDeletes(_ prefix: [UInt8], maxCreateRevision: Int64) async throws -> Etcdserverpb_ResponseHeader {
        while true {
            let found = try await range(Self.byCreation(prefix, first: false, maxCreateRevision: maxCreateRevision))
            guard let last = found.kvs.first else { return found.header }
            try await waitDelete(Array(last.key), from: found.header.revision)
        }
    }

    /// Waits for the deletion of `key` at or after `revision`.
    func waitDelete(_ key: [UInt8], from revision: Int64) async throws {
        for try await (events, _) in changes(key, end: [], from: revision) where events.contains(where: { $0.kind == .delete }) {
            return
        }
        throw CancellationError()
    }

    /// The changes to [key, end) from `revision` on, a revision at a time, until the task is
    /// cancelled; a compacted start revision fails it, as a watch would be cancelled.
    func changes(_ key: [UInt8], end: [UInt8], from revision: Int64) -> AsyncThrowingStream<([MVCCStore.Event], Int64), any Error> {
        let (stream, continuation) = AsyncThrowingStream<([MVCCStore.Event], Int64), any Error>.makeStream()
        let watcher = WatcherSet.Watcher(
            key: key, end: end, noPut: false, noDelete: false, prevKV: false, minRevision: revision,
            send: { delivery in
                switch delivery {
                case .events(let events, let revision): continuation.yield((events, revision))
                case .compacted: continuation.finish(throwing: V3Backend.rpcError(V3Error.compacted))
                }
                return true
            })
        let machine = backend.machine
        let (start, _) = machine.watch(watcher, from: revision)
        switch start {
        case .started(let token):
            continuation.onTermination = { _ in machine.unwatch(token) }
        case .compacted:
            continuation.finish(throwing: V3Backend.rpcError(V3Error.compacted))
        }
        return stream
    }
}
