import BinaryCodec
import EtcdAPI

/// Hashes of the store, for `etcdctl endpoint hashkv` and `endpoint hash`: members that
/// applied the same log agree on them, which is how operators check replicas match.
extension MVCCStore {
    /// etcd's HashKV: CRC-32C over every kept record at or below `revision`, in revision order,
    /// each as etcd's backend stores it (key: the revision as 8 + 1 + 8 bytes, `t` appended for
    /// a tombstone; value: the KeyValue message), after the bucket's name. Records compacted
    /// away are gone from this store, as etcd skips them.
    public func hashKV(at revision: Int64) -> UInt32 {
        // Sorted without their values, which are read one at a time as they are hashed.
        var records: [(revision: Int64, sub: Int32, key: [UInt8], record: Record)] = []
        forEachRecord { key, record in
            if record.revision <= revision { records.append((record.revision, record.sub, key, record)) }
        }
        records.sort { ($0.revision, $0.sub) < ($1.revision, $1.sub) }
        var hash = HashKV()
        for record in records {
            hash.add(revision: record.revision, sub: record.sub, key: record.key, keyValue(record.key, record.record))
        }
        return hash.value
    }

    /// HashKV's running checksum, fed records in (revision, sub) order: by the store above, or
    /// straight from a backend file's rows (`V3StateMachine.hashKV`).
    public struct HashKV {
        public private(set) var value = CRC32C.update(0, Array("key".utf8))

        public init() {}

        /// `kv` nil: a tombstone of `key`.
        public mutating func add(revision: Int64, sub: Int32, key: [UInt8], _ kv: KeyValue?) {
            // Big-endian, as etcd's revision keys sort.
            var revisionKey: [UInt8] = []
            for shift in stride(from: 56, through: 0, by: -8) { revisionKey.append(UInt8(truncatingIfNeeded: UInt64(bitPattern: revision) >> UInt64(shift))) }
            revisionKey.append(UInt8(ascii: "_"))
            for shift in stride(from: 56, through: 0, by: -8) { revisionKey.append(UInt8(truncatingIfNeeded: UInt64(sub) >> UInt64(shift))) }
            var message = Mvccpb_KeyValue()
            message.key = .init(key)
            if let kv {
                message = kv.message
            } else {
                revisionKey.append(UInt8(ascii: "t"))
            }
            value = CRC32C.update(value, revisionKey)
            value = CRC32C.update(value, (try? message.serializedBytes()) ?? [])
        }
    }

    /// etcd's Hash: a checksum of the whole store (its snapshot encoding, the backend's bytes).
    public var hash: UInt32 {
        var crc: UInt32 = 0
        MVCCStoreEncoding.encode(self) { crc = CRC32C.update(crc, $0) }
        return crc
    }
}
