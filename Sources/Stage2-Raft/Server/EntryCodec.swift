import BinaryCodec
import RaftCore
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
        case .leave(let name): writer.u8(8); text(name)
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
        case 8: command = reader.string().map { .leave(name: $0) }
        default: command = nil
        }
        guard let command, reader.isAtEnd else { return nil }
        return Request(origin: origin, requestID: requestID, command: Command(command, time: Timestamp(nanoseconds: Int64(bitPattern: time))))
    }
}
