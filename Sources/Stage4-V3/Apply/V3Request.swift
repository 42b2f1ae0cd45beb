import BinaryCodec
import EtcdAPI
import Foundation
import SwiftProtobuf

/// A v3 write as the Raft log carries it: one byte naming the request, then the request as
/// etcd's own protobuf message (what etcd's `InternalRaftRequest` does with a field per kind).
public enum V3Request: Sendable, Equatable {
    case put(Etcdserverpb_PutRequest)
    case deleteRange(Etcdserverpb_DeleteRangeRequest)
    case txn(Etcdserverpb_TxnRequest)
    case compact(Etcdserverpb_CompactionRequest)
    case leaseGrant(Etcdserverpb_LeaseGrantRequest)
    case leaseRevoke(Etcdserverpb_LeaseRevokeRequest)
    /// A keep-alive, through the log so that any member can take one (etcd forwards them to
    /// the leader instead): every member restarts the lease's clock when it applies it.
    case leaseRenew(Etcdserverpb_LeaseKeepAliveRequest)
    /// Raise or clear an alarm (GET is answered locally, never proposed).
    case alarm(Etcdserverpb_AlarmRequest)
    /// A change to (or question for) users, roles and permissions.
    case auth(AuthRequest)
    /// A client's request with who sent it (etcd's RequestHeader username and auth revision):
    /// the store checks its permissions when it applies it, against the auth store as it is
    /// then. A request without this wrapper comes from the server itself (a lease's expiry, an
    /// alarm, auto-compaction) and is not checked.
    indirect case asUser(AuthInfo, V3Request)

    /// Whether it may write new data: what a NOSPACE alarm refuses (etcd's applierV3Capped),
    /// and what the quota checks before proposing.
    public var addsData: Bool {
        switch self {
        case .asUser(_, let request): request.addsData
        case .put, .leaseGrant: true
        case .txn(let txn): Self.hasPuts(txn)
        default: false
        }
    }

    /// What etcd's quota charges a request, in bytes: 256 per put plus its key and value (a
    /// transaction: its costlier branch), 64 per lease; nothing else.
    public var quotaCost: Int {
        switch self {
        case .asUser(_, let request): request.quotaCost
        case .put(let put): 256 + put.key.count + put.value.count
        case .leaseGrant: 64
        case .txn(let txn): Self.cost(txn)
        default: 0
        }
    }

    static func cost(_ txn: Etcdserverpb_TxnRequest) -> Int {
        func branch(_ ops: [Etcdserverpb_RequestOp]) -> Int {
            ops.reduce(0) { total, op in
                switch op.request {
                case .requestPut(let put): total + 256 + put.key.count + put.value.count
                case .requestTxn(let nested): total + cost(nested)
                default: total
                }
            }
        }
        return max(branch(txn.success), branch(txn.failure))
    }

    static func hasPuts(_ txn: Etcdserverpb_TxnRequest) -> Bool {
        (txn.success + txn.failure).contains { op in
            switch op.request {
            case .requestPut: true
            case .requestTxn(let nested): hasPuts(nested)
            default: false
            }
        }
    }

    public func encoded() throws -> [UInt8] {
        switch self {
        case .auth(let request):
            var writer = ByteWriter()
            writer.u8(9)
            request.encode(into: &writer)
            return writer.bytes
        case .asUser(let who, let request):
            var writer = ByteWriter()
            writer.u8(10)
            writer.blob(Array(who.user.utf8))
            writer.u64(who.revision)
            return writer.bytes + (try request.encoded())
        default: break
        }
        let (tag, body): (UInt8, any SwiftProtobuf.Message) =
            switch self {
            case .put(let request): (1, request)
            case .deleteRange(let request): (2, request)
            case .txn(let request): (3, request)
            case .compact(let request): (4, request)
            case .leaseGrant(let request): (5, request)
            case .leaseRevoke(let request): (6, request)
            case .leaseRenew(let request): (7, request)
            case .alarm(let request): (8, request)
            case .auth, .asUser: fatalError("encoded above")
            }
        return [tag] + (try body.serializedBytes() as [UInt8])
    }

    static let damaged = V3Error(code: .invalidArgument, message: "damaged v3 request")

    public init(encoded bytes: [UInt8]) throws {
        guard let tag = bytes.first else { throw V3Error(code: .invalidArgument, message: "empty v3 request") }
        let body = Data(bytes.dropFirst())
        switch tag {
        case 1: self = .put(try Etcdserverpb_PutRequest(serializedBytes: body))
        case 2: self = .deleteRange(try Etcdserverpb_DeleteRangeRequest(serializedBytes: body))
        case 3: self = .txn(try Etcdserverpb_TxnRequest(serializedBytes: body))
        case 4: self = .compact(try Etcdserverpb_CompactionRequest(serializedBytes: body))
        case 5: self = .leaseGrant(try Etcdserverpb_LeaseGrantRequest(serializedBytes: body))
        case 6: self = .leaseRevoke(try Etcdserverpb_LeaseRevokeRequest(serializedBytes: body))
        case 7: self = .leaseRenew(try Etcdserverpb_LeaseKeepAliveRequest(serializedBytes: body))
        case 8: self = .alarm(try Etcdserverpb_AlarmRequest(serializedBytes: body))
        case 9:
            var reader = ByteReader(bytes[1...])
            guard let request = AuthRequest(from: &reader), reader.isAtEnd else { throw Self.damaged }
            self = .auth(request)
        case 10:
            var reader = ByteReader(bytes[1...])
            guard let name = reader.blob(), let user = String(bytes: name, encoding: .utf8), let revision = reader.u64() else { throw Self.damaged }
            self = .asUser(AuthInfo(user: user, revision: revision), try V3Request(encoded: Array(bytes[reader.position...])))
        default: throw V3Error(code: .invalidArgument, message: "unknown v3 request kind \(tag)")
        }
    }
}

/// The answer to an applied `V3Request` (without its header, which the server fills in).
public enum V3Response: Sendable {
    case put(Etcdserverpb_PutResponse)
    case deleteRange(Etcdserverpb_DeleteRangeResponse)
    case txn(Etcdserverpb_TxnResponse)
    case compact(Etcdserverpb_CompactionResponse)
    case leaseGrant(Etcdserverpb_LeaseGrantResponse)
    case leaseRevoke(Etcdserverpb_LeaseRevokeResponse)
    case leaseRenew(id: Int64, ttl: Int64)
    case alarm(Etcdserverpb_AlarmResponse)
    case auth(AuthResponse)
}
