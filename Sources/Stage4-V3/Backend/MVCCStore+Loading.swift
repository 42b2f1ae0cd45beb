/// A store reopened from its file: the index rebuilt from every row, as etcd rebuilds its
/// treeIndex from bbolt at start (the values stay on disk).
extension MVCCStore {
    public init(loading file: SQLiteBackend) throws {
        self.init()
        backend = file
        var records = OrderedIndex<[Record]>()
        var size = 0
        var last: (revision: Int64, sub: Int32) = (0, -1)
        let (savedLeases, savedAlarms, savedAuth) = try file.load { change in
            let stamp = change.isTombstone
                ? nil : Stamp(createRevision: change.createRevision, version: change.version, lease: change.lease, valueSize: change.valueSize)
            let record = Record(revision: change.revision, sub: change.sub, row: change.row, stamp: stamp)
            records.modify(change.key, initial: []) { $0.append(record) }
            size += Self.size(of: record, key: change.key)
            last = (change.revision, change.sub)
        }
        index = records
        sizeInUse = size
        lastChange = last
        revision = max(file.committed.revision, last.revision, 1)
        compactRevision = file.committed.compactRevision
        for (id, ttl) in savedLeases { leases[id] = Lease(ttl: ttl) }
        // Which keys hang on which lease follows from each key's latest write.
        index.forEach(from: [], below: nil) { key, history in
            if let lease = history.last?.stamp?.lease, lease != 0 { leases[lease]?.keys.insert(key) }
            return true
        }
        alarms = Set(savedAlarms)
        if let savedAuth { auth = try AuthStore(encoded: savedAuth) }
        // A compaction whose rows were not all deleted before the member stopped: its rows are
        // found again and queued again.
        if compactRevision > 0 { prune(through: compactRevision) }
    }
}
