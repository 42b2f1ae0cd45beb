import BinaryCodec

/// The store as bytes, for Raft snapshots: every key's history, so that reads at old revisions
/// and watches from them work the same after a restart or on a member that caught up from a
/// snapshot. Version 1: `revision`, `compactRevision`, then per key its records; then leases,
/// alarms and the auth store, each added later and absent from older snapshots.
///
/// A store kept in a file (`SQLiteBackend`) is snapshotted as that file instead; this encoding
/// is the in-memory store's, and what older snapshots hold.
enum MVCCStoreEncoding {
    /// The encoding in pieces of about a megabyte, for a store too large to hold twice.
    static func encode(_ store: MVCCStore, _ output: ([UInt8]) -> Void) {
        var writer = ByteWriter()
        func flushIfLarge() {
            guard writer.bytes.count >= 1 << 20 else { return }
            output(writer.bytes)
            writer.bytes.removeAll(keepingCapacity: true)
        }
        writer.u8(1)
        writer.u64(UInt64(bitPattern: store.revision))
        writer.u64(UInt64(bitPattern: store.compactRevision))
        writer.u64(UInt64(store.index.count))
        store.index.forEach(from: [], below: nil) { key, history in
            writer.blob(key)
            writer.u32(UInt32(history.count))
            for record in history {
                writer.u64(UInt64(bitPattern: record.revision))
                writer.u32(UInt32(bitPattern: record.sub))
                if let kv = store.keyValue(key, record) {
                    writer.u8(1)
                    writer.blob(kv.value)
                    writer.u64(UInt64(bitPattern: kv.createRevision))
                    writer.u64(UInt64(bitPattern: kv.version))
                    writer.u64(UInt64(bitPattern: kv.lease))
                } else {
                    writer.u8(0)
                }
                flushIfLarge()
            }
            return true
        }
        writer.u64(UInt64(store.leases.count))
        for (id, lease) in store.leases.sorted(by: { $0.key < $1.key }) {
            writer.u64(UInt64(bitPattern: id))
            writer.u64(UInt64(bitPattern: lease.ttl))
            writer.u32(UInt32(lease.keys.count))
            for key in lease.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) { writer.blob(key) }
        }
        // Alarms came later: a snapshot without this section has none.
        writer.u32(UInt32(store.alarms.count))
        for alarm in store.alarms.sorted() {
            writer.u64(alarm.memberID)
            writer.u32(UInt32(bitPattern: alarm.kind))
        }
        // The auth store came later still: a snapshot without it has auth off and no users.
        writer.blob(store.auth.encoded())
        output(writer.bytes)
    }

    /// The store a snapshot holds, its values written into `backend` (an empty one).
    static func decode(_ bytes: [UInt8], into backend: any MVCCBackend) throws -> MVCCStore {
        var reader = ByteReader(bytes[...])
        guard reader.u8() == 1, let revision = reader.u64(), let compactRevision = reader.u64(), let keyCount = reader.u64() else {
            throw MVCCStore.SnapshotError()
        }
        var store = MVCCStore()
        store.backend = backend
        store.revision = Int64(bitPattern: revision)
        store.compactRevision = Int64(bitPattern: compactRevision)
        var pending: [(key: [UInt8], position: Int, change: BackendChange)] = []
        for _ in 0..<keyCount {
            guard let key = reader.blob(), let recordCount = reader.u32() else { throw MVCCStore.SnapshotError() }
            var history: [MVCCStore.Record] = []
            for _ in 0..<recordCount {
                guard let rev = reader.u64(), let sub = reader.u32(), let live = reader.u8() else { throw MVCCStore.SnapshotError() }
                let modRevision = Int64(bitPattern: rev)
                var change = BackendChange(revision: modRevision, sub: Int32(bitPattern: sub), key: key, value: nil, createRevision: 0, version: 0, lease: 0)
                var stamp: MVCCStore.Stamp?
                if live == 1 {
                    guard let value = reader.blob(), let create = reader.u64(), let version = reader.u64(), let lease = reader.u64() else {
                        throw MVCCStore.SnapshotError()
                    }
                    change.value = value
                    (change.createRevision, change.version, change.lease) = (Int64(bitPattern: create), Int64(bitPattern: version), Int64(bitPattern: lease))
                    stamp = MVCCStore.Stamp(createRevision: change.createRevision, version: change.version, lease: change.lease, valueSize: value.count)
                }
                history.append(MVCCStore.Record(revision: modRevision, sub: change.sub, row: 0, stamp: stamp))
                pending.append((key, history.count - 1, change))
                store.sizeInUse += MVCCStore.size(of: history[history.count - 1], key: key)
            }
            store.index[key] = history
        }
        // Into the backend in (revision, sub) order, the order rows must keep.
        pending.sort { ($0.change.revision, $0.change.sub) < ($1.change.revision, $1.change.sub) }
        for (key, position, change) in pending {
            let row = store.backend.insert(change)
            store.index.modify(key, initial: []) { $0[position].row = row }
        }
        guard let leaseCount = reader.u64() else { throw MVCCStore.SnapshotError() }
        for _ in 0..<leaseCount {
            guard let id = reader.u64(), let ttl = reader.u64(), let keyCount = reader.u32() else { throw MVCCStore.SnapshotError() }
            var lease = MVCCStore.Lease(ttl: Int64(bitPattern: ttl))
            for _ in 0..<keyCount {
                guard let key = reader.blob() else { throw MVCCStore.SnapshotError() }
                lease.keys.insert(key)
            }
            store.leases[Int64(bitPattern: id)] = lease
            store.backend.saveLease(Int64(bitPattern: id), ttl: lease.ttl)
        }
        if !reader.isAtEnd {
            guard let alarmCount = reader.u32() else { throw MVCCStore.SnapshotError() }
            for _ in 0..<alarmCount {
                guard let member = reader.u64(), let kind = reader.u32() else { throw MVCCStore.SnapshotError() }
                store.alarms.insert(MVCCStore.Alarm(memberID: member, kind: Int32(bitPattern: kind)))
            }
        }
        if !reader.isAtEnd {
            guard let saved = reader.blob() else { throw MVCCStore.SnapshotError() }
            store.auth = try AuthStore(encoded: saved)
            store.backend.saveAuth(saved)
        }
        guard reader.isAtEnd else { throw MVCCStore.SnapshotError() }
        if !store.alarms.isEmpty { store.backend.saveAlarms(store.alarms.sorted()) }
        store.lastChange = pending.last.map { ($0.change.revision, $0.change.sub) } ?? (0, -1)
        return store
    }
}

extension MVCCStore {
    public struct SnapshotError: Error, CustomStringConvertible {
        public var description: String { "the v3 store snapshot is damaged or of an unknown version" }
    }

    /// The store as `MVCCStoreEncoding` writes it.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        MVCCStoreEncoding.encode(self) { bytes += $0 }
        return bytes
    }

    /// The store a snapshot holds, its values written into `backend` (an empty one).
    public init(encoded bytes: [UInt8], into backend: any MVCCBackend = MemoryBackend()) throws {
        self = try MVCCStoreEncoding.decode(bytes, into: backend)
    }
}
