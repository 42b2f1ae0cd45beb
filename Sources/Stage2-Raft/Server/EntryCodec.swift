import SingleNode

/// What the replicated log carries for the v1 store: client commands (with who is waiting for
/// the answer), and the member behind each membership change. Binary, version 1.
enum EntryCodec {
    /// The first byte of an entry for the log state machine (v1 requests start with 1):
    /// then the proposer's ID, its request number, and the machine's own payload.
    static let extensionTag: UInt8 = 2

    static func encodeExtension(origin: NodeID, requestID: UInt64, payload: [UInt8]) -> [UInt8] {
        var writer = ByteWriter()
        writer.u8(extensionTag)
        writer.u64(origin)
        writer.u64(requestID)
        writer.bytes += payload
        return writer.bytes
    }

    static func decodeExtension(_ bytes: [UInt8]) -> (origin: NodeID, requestID: UInt64, payload: [UInt8])? {
        var reader = ByteReader(bytes[...])
        guard reader.u8() == extensionTag, let origin = reader.u64(), let requestID = reader.u64() else { return nil }
        return (origin, requestID, Array(bytes[reader.position...]))
    }

    /// A client command, tagged with the proposing node and its request number.
    struct Request: Equatable {
        var origin: NodeID
        var requestID: UInt64
        var command: Command
    }

    static func encode(_ request: Request) -> [UInt8] {
        var writer = ByteWriter()
        writer.u8(1)
        writer.u64(request.origin)
        writer.u64(request.requestID)
        writer.u64(UInt64(bitPattern: request.command.time.nanoseconds))
        func expiration(_ value: Timestamp?) {
            writer.u8(value == nil ? 0 : 1)
            writer.u64(UInt64(bitPattern: value?.nanoseconds ?? 0))
        }
        func text(_ value: String) { writer.blob(Array(value.utf8)) }
        switch request.command.kind {
        case .set(let key, let value, let exp): writer.u8(1); text(key); text(value); expiration(exp)
        case .testAndSet(let key, let prev, let value, let exp): writer.u8(2); text(key); text(prev); text(value); expiration(exp)
        case .delete(let key): writer.u8(3); text(key)
        case .expire(let key, let exp): writer.u8(4); text(key); expiration(exp)
        case .join(let name, let raft, let etcd): writer.u8(5); text(name); text(raft); text(etcd)
        case .nop: writer.u8(6)
        case .publish(let name, let raft, let etcd): writer.u8(7); text(name); text(raft); text(etcd)
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) -> Request? {
        var reader = ByteReader(bytes[...])
        guard reader.u8() == 1, let origin = reader.u64(), let requestID = reader.u64(), let time = reader.u64(),
            let kind = reader.u8()
        else { return nil }
        func expiration() -> Timestamp?? {
            guard let flag = reader.u8(), let value = reader.u64() else { return nil }
            return .some(flag == 1 ? Timestamp(nanoseconds: Int64(bitPattern: value)) : nil)
        }
        let command: Command.Kind?
        switch kind {
        case 1:
            guard let key = reader.string(), let value = reader.string(), let exp = expiration() else { return nil }
            command = .set(key: key, value: value, expiration: exp)
        case 2:
            guard let key = reader.string(), let prev = reader.string(), let value = reader.string(), let exp = expiration() else { return nil }
            command = .testAndSet(key: key, prevValue: prev, value: value, expiration: exp)
        case 3: command = reader.string().map { .delete(key: $0) }
        case 4:
            guard let key = reader.string(), let exp = expiration(), let instant = exp else { return nil }
            command = .expire(key: key, expiration: instant)
        case 5:
            guard let name = reader.string(), let raft = reader.string(), let etcd = reader.string() else { return nil }
            command = .join(name: name, raftURL: raft, etcdURL: etcd)
        case 6: command = .nop
        case 7:
            guard let name = reader.string(), let raft = reader.string(), let etcd = reader.string() else { return nil }
            command = .publish(name: name, raftURL: raft, etcdURL: etcd)
        default: command = nil
        }
        guard let command, reader.isAtEnd else { return nil }
        return Request(origin: origin, requestID: requestID, command: Command(command, time: Timestamp(nanoseconds: Int64(bitPattern: time))))
    }
}

/// A member of the cluster: its name (identity) and URLs, carried in its membership change.
public struct Member: Sendable, Hashable {
    /// The name given with `-n` (or derived), unique in the cluster.
    public var name: String
    /// Where peers reach it.
    public var peerURL: String
    /// Where clients reach it.
    public var clientURL: String

    /// Makes a member.
    public init(name: String, peerURL: String, clientURL: String) {
        self.name = name
        self.peerURL = peerURL
        self.clientURL = clientURL
    }

    /// The member's Raft ID: a hash of its name, so every node derives the same one.
    public var id: NodeID {
        let value = Self.fnv1a(Array(name.utf8))
        return value == 0 ? 1 : value
    }

    /// 64-bit FNV-1a: small, stable across builds and platforms (Swift's Hasher is seeded).
    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return value
    }

    var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.blob(Array(name.utf8))
        writer.blob(Array(peerURL.utf8))
        writer.blob(Array(clientURL.utf8))
        return writer.bytes
    }

    init?(encoded bytes: [UInt8]) {
        var reader = ByteReader(bytes[...])
        guard let name = reader.string(), let peer = reader.string(), let client = reader.string() else { return nil }
        self.init(name: name, peerURL: peer, clientURL: client)
    }
}
