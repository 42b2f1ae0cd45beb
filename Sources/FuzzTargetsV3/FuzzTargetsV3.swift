import EtcdAPI
import Foundation
import SwiftProtobuf
import V3

/// Stage 4's decoders under hostile bytes (see `FuzzTargets`): a client's KV and lease calls as
/// the gRPC transport hands them over, and the v3 entries read back from the log.
public enum FuzzTargetsV3 {
    public static let all: [String: @Sendable ([UInt8]) -> [String]] = [
        "v3-request": request,
        "v3-entry": entry,
    ]

    /// The first byte picks the call, the rest is its protobuf message, decoded as the server
    /// decodes it and then served by a small store: a refusal is fine, a crash is not; what is
    /// applied leaves a store whose every key can still be read.
    public static func request(_ data: [UInt8]) -> [String] {
        guard let selector = data.first else { return [] }
        let payload = Array(data.dropFirst())
        var store = MVCCStore()
        for key in ["a", "b", "c/d"] {
            var put = Etcdserverpb_PutRequest()
            (put.key, put.value) = (Data(key.utf8), Data("v".utf8))
            _ = store.apply(.put(put))
        }
        let request: V3Request
        do {
            switch selector % 8 {
            case 0: return read(try Etcdserverpb_RangeRequest(serializedBytes: payload), from: store)
            case 1: request = .put(try Etcdserverpb_PutRequest(serializedBytes: payload))
            case 2: request = .deleteRange(try Etcdserverpb_DeleteRangeRequest(serializedBytes: payload))
            case 3: request = .txn(try Etcdserverpb_TxnRequest(serializedBytes: payload))
            case 4: request = .compact(try Etcdserverpb_CompactionRequest(serializedBytes: payload))
            case 5: request = .leaseGrant(try Etcdserverpb_LeaseGrantRequest(serializedBytes: payload))
            case 6: request = .leaseRevoke(try Etcdserverpb_LeaseRevokeRequest(serializedBytes: payload))
            default: request = .leaseRenew(try Etcdserverpb_LeaseKeepAliveRequest(serializedBytes: payload))
            }
        } catch {
            return []  // not a message of that type: grpc-swift refuses it before any service
        }
        _ = store.apply(request)
        var everything = Etcdserverpb_RangeRequest()
        everything.key = Data([0])
        everything.rangeEnd = Data([0])
        guard let all = try? store.range(everything) else { return ["after \(request), the whole store cannot be read"] }
        return all.count == Int64(all.kvs.count) ? [] : ["after \(request), count \(all.count) but \(all.kvs.count) keys"]
    }

    private static func read(_ range: Etcdserverpb_RangeRequest, from store: MVCCStore) -> [String] {
        _ = try? store.range(range)
        return []
    }

    /// A v3 entry from the log: what decodes re-encodes to an entry that decodes the same.
    public static func entry(_ data: [UInt8]) -> [String] {
        guard let request = try? V3Request(encoded: data) else { return [] }
        guard let bytes = try? request.encoded(), let again = try? V3Request(encoded: bytes) else {
            return ["\(request) does not re-encode to a readable entry"]
        }
        return again == request ? [] : ["\(request) re-encoded decodes as \(again)"]
    }
}
