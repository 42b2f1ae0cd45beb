import BinaryCodec

/// A question one member asks another over the peer port: about a lease, which only the
/// leader's lessor answers, or (any member) the hash of its history for a corruption check.
public enum PeerQuery: Sendable, Equatable {
    case keepAlive(Int64)
    case timeToLive(Int64)
    /// HashKV at a revision (0: the latest), as etcd's `/members/hashkv`.
    case hashKV(revision: Int64)
}

/// The answer to a `PeerQuery`.
public enum PeerAnswer: Sendable, Equatable {
    /// No such lease.
    case notFound
    /// A keep-alive restarted the lease's clock: its TTL, or 0 if it ran out already.
    case renewed(ttl: Int64)
    /// Seconds left (rounded up) and granted, and the keys attached, in byte order.
    case timeToLive(remaining: Int64, granted: Int64, keys: [[UInt8]])
    /// A member's HashKV: its hash, its compaction (-1: never), the revision hashed.
    case hashed(hash: UInt32, compactRevision: Int64, revision: Int64)
}

// On the wire: a kind byte, then the fields in order.
extension PeerQuery {
    var encoded: [UInt8] {
        var writer = ByteWriter()
        switch self {
        case .keepAlive(let id): writer.u8(1); writer.u64(UInt64(bitPattern: id))
        case .timeToLive(let id): writer.u8(2); writer.u64(UInt64(bitPattern: id))
        case .hashKV(let revision): writer.u8(3); writer.u64(UInt64(bitPattern: revision))
        }
        return writer.bytes
    }

    init?(encoded bytes: ArraySlice<UInt8>) {
        var reader = ByteReader(bytes)
        guard let kind = reader.u8(), let raw = reader.u64() else { return nil }
        switch kind {
        case 1: self = .keepAlive(Int64(bitPattern: raw))
        case 2: self = .timeToLive(Int64(bitPattern: raw))
        case 3: self = .hashKV(revision: Int64(bitPattern: raw))
        default: return nil
        }
    }
}

extension PeerAnswer {
    var encoded: [UInt8] {
        var writer = ByteWriter()
        switch self {
        case .notFound: writer.u8(0)
        case .renewed(let ttl): writer.u8(1); writer.u64(UInt64(bitPattern: ttl))
        case .timeToLive(let remaining, let granted, let keys):
            writer.u8(2)
            writer.u64(UInt64(bitPattern: remaining))
            writer.u64(UInt64(bitPattern: granted))
            writer.u32(UInt32(keys.count))
            for key in keys { writer.blob(key) }
        case .hashed(let hash, let compactRevision, let revision):
            writer.u8(3)
            writer.u32(hash)
            writer.u64(UInt64(bitPattern: compactRevision))
            writer.u64(UInt64(bitPattern: revision))
        }
        return writer.bytes
    }

    init?(encoded bytes: ArraySlice<UInt8>) {
        var reader = ByteReader(bytes)
        switch reader.u8() {
        case 0: self = .notFound
        case 1:
            guard let ttl = reader.u64() else { return nil }
            self = .renewed(ttl: Int64(bitPattern: ttl))
        case 2:
            guard let remaining = reader.u64(), let granted = reader.u64(), let count = reader.u32() else { return nil }
            var keys: [[UInt8]] = []
            for _ in 0..<count {
                guard let key = reader.blob() else { return nil }
                keys.append(key)
            }
            self = .timeToLive(remaining: Int64(bitPattern: remaining), granted: Int64(bitPattern: granted), keys: keys)
        case 3:
            guard let hash = reader.u32(), let compacted = reader.u64(), let revision = reader.u64() else { return nil }
            self = .hashed(hash: hash, compactRevision: Int64(bitPattern: compacted), revision: Int64(bitPattern: revision))
        default: return nil
        }
    }
}
