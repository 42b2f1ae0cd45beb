import HeapModule

/// The write operations, each following the original's rules for what it answers, which index
/// it touches and which counters it moves.
extension KeyStore {
    /// The key under which a machine is registered.
    public static func machineKey(_ name: String) -> String { "/_etcd/machines/" + name }

    mutating func set(_ key: String, value: String, expiration: Timestamp?, issuedAt time: Timestamp, at entryIndex: UInt64)
        -> Result<V1Response, StoreError>
    {
        stats.sets += 1
        // A TTL already run out when issued (ttl <= 0) makes any set a delete, as in the original.
        if let expiration, expiration <= time {
            stats.deletes += 1
            return delete(key, at: entryIndex)
        }
        // The original assigned the store index before checking anything, so a failed set
        // still moves it.
        index = entryIndex
        let ancestors = KeyPath.ancestorsIncludingSelf(key).dropLast()
        let byteKey = ByteString(key)
        guard key != "/", directories[byteKey] == nil, !ancestors.contains(where: { files[ByteString($0)] != nil }) else {
            return .failure(StoreError(.notFile, cause: key))
        }
        let previous = files.updateValue(FileNode(value: value, expiration: expiration), forKey: byteKey)
        if previous == nil { link(key) }
        if previous?.expiration != nil { filesWithTTL -= 1 }
        if let expiration {
            filesWithTTL += 1
            expiryQueue.insert(ExpiryItem(expiration: expiration, key: key))
            if expiryQueue.count > 1024 && expiryQueue.count > 4 * filesWithTTL { rebuildExpiryQueue() }
        }
        return .success(
            V1Response(
                action: .set, key: key, prevValue: previous?.value ?? "", value: value, isNewKey: previous == nil,
                expiration: expiration, index: entryIndex))
    }

    mutating func testAndSet(
        _ key: String, prevValue: String, value: String, expiration: Timestamp?, issuedAt time: Timestamp,
        at entryIndex: UInt64
    ) -> Result<V1Response, StoreError> {
        // A failed test-and-set leaves the store index alone; only the set it turns into moves it.
        // A directory counts as missing, as in the original. Values compare as bytes.
        switch (files[ByteString(key)]?.value, prevValue.isEmpty) {
        case (nil, true):
            return set(key, value: value, expiration: expiration, issuedAt: time, at: entryIndex)
        case (nil, false):
            return .failure(StoreError(.keyNotFound, cause: String(key.dropFirst())))
        case (let current?, _) where !current.isByteEqual(to: prevValue):
            return .failure(StoreError(.testFailed, cause: "TestAndSet: \(current)!=\(prevValue)"))
        case (_?, _):
            return set(key, value: value, expiration: expiration, issuedAt: time, at: entryIndex)
        }
    }

    mutating func delete(_ key: String, at entryIndex: UInt64) -> Result<V1Response, StoreError> {
        index = entryIndex
        guard let file = files[ByteString(key)] else { return .failure(StoreError(.keyNotFound, cause: key)) }
        unlink(key)
        return .success(
            V1Response(action: .delete, key: key, prevValue: file.value, expiration: file.expiration, index: entryIndex))
    }

    mutating func expire(_ key: String, expiration: Timestamp, at entryIndex: UInt64) -> Result<V1Response, StoreError> {
        // Only the very TTL that was scheduled may remove the key: a set after the authority
        // decided to expire it wins. Expiry moves no counter, as in the original.
        guard let file = files[ByteString(key)], file.expiration == expiration else {
            return .failure(StoreError(.keyNotFound, cause: key))
        }
        index = entryIndex
        unlink(key)
        return .success(
            V1Response(action: .delete, key: key, prevValue: file.value, expiration: expiration, index: entryIndex))
    }

    mutating func join(name: String, raftURL: String, etcdURL: String, issuedAt time: Timestamp, at entryIndex: UInt64)
        -> Result<V1Response, StoreError>
    {
        let key = Self.machineKey(name)
        // Names are identities: a machine that joins again keeps the URLs it first registered.
        if let file = files[ByteString(key)] {
            return .success(V1Response(action: .get, key: key, value: file.value, index: index))
        }
        return set(key, value: "raft=\(raftURL)&etcd=\(etcdURL)", expiration: nil, issuedAt: time, at: entryIndex)
    }

    /// The machines registered under `/_etcd/machines`, with their values, by name.
    public func machines() -> [(name: String, value: String)] {
        (directories[ByteString("/_etcd/machines")] ?? []).sorted().compactMap { name in
            files[ByteString("/_etcd/machines/" + name.string)].map { (name.string, $0.value) }
        }
    }

    /// Adds `key` to its parent's children, creating missing ancestor directories up to the
    /// first that already exists.
    private mutating func link(_ key: String) {
        var child = key
        while child != "/" {
            let parent = ByteString(KeyPath.parent(child))
            let existed = directories[parent] != nil
            directories[parent, default: []].insert(ByteString(KeyPath.lastSegment(child)))
            if existed { return }
            child = parent.string
        }
    }

    private mutating func unlink(_ key: String) {
        if files.removeValue(forKey: ByteString(key))?.expiration != nil { filesWithTTL -= 1 }
        directories[ByteString(KeyPath.parent(key))]?.remove(ByteString(KeyPath.lastSegment(key)))
    }

    private mutating func rebuildExpiryQueue() {
        expiryQueue = Heap(files.compactMap { key, file in file.expiration.map { ExpiryItem(expiration: $0, key: key.string) } })
    }
}
