import BinaryCodec
import SingleNode

/// Stage 1's store as a replicated state machine: the log carries its commands (the time each
/// was issued, then the command), binary, version 1. v1 indexes are Raft indexes, so the server
/// also moves its applied index past every entry another machine owns (`skip(to:)`).
extension StoreMachine: ReplicatedStateMachine {
    public static let tag: UInt8 = 1

    public static func encode(_ command: Command) -> [UInt8] {
        var writer = ByteWriter()
        writer.u64(UInt64(bitPattern: command.time.nanoseconds))
        func expiration(_ value: Timestamp?) {
            writer.u8(value == nil ? 0 : 1)
            writer.u64(UInt64(bitPattern: value?.nanoseconds ?? 0))
        }
        func text(_ value: String) { writer.blob(Array(value.utf8)) }
        switch command.kind {
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

    /// `v1 set /foo`, `v1 join infra2`: the command and its key or member.
    public static func summarize(_ command: Command) -> String {
        switch command.kind {
        case .set(let key, _, _): "v1 set \(key)"
        case .testAndSet(let key, _, _, _): "v1 test-and-set \(key)"
        case .delete(let key): "v1 delete \(key)"
        case .expire(let key, _): "v1 expire \(key)"
        case .join(let name, _, _): "v1 join \(name)"
        case .publish(let name, _, _): "v1 publish \(name)"
        case .leave(let name): "v1 leave \(name)"
        case .nop: "v1 nop"
        }
    }

    public static func decode(_ payload: ArraySlice<UInt8>) -> Command? {
        var reader = ByteReader(payload)
        guard let time = reader.u64(), let kind = reader.u8() else { return nil }
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
        return Command(command, time: Timestamp(nanoseconds: Int64(bitPattern: time)))
    }

    @discardableResult
    public func apply(_ command: Command, at index: UInt64) -> Swift.Result<V1Response, StoreError> {
        apply(command, at: Optional(index))
    }

    /// Copied now (cheap: the store is copy-on-write), encoded when called.
    public func snapshotSource() -> @Sendable () -> [UInt8] {
        let store = copyStore().store
        return { store.encoded() }
    }

    public func snapshotData() -> [UInt8] { copyStore().store.encoded() }

    public func restore(from data: [UInt8], at index: UInt64) throws {
        replace(with: try KeyStore(encoded: data), appliedIndex: index)
    }
}
