/// The write operations, each following the original's rules for what it answers and which
/// index it touches.
extension KeyStore {
    /// The key under which a machine is registered.
    public static func machineKey(_ name: String) -> String { "/_etcd/machines/" + name }

    mutating func set(_ key: String, value: String, expiration: Timestamp?, at entryIndex: UInt64)
        -> Result<V1Response, StoreError>
    {
        // The original assigned the store index before checking anything, so a failed set
        // still moves it.
        index = entryIndex
        let ancestors = KeyPath.ancestorsIncludingSelf(key).dropLast()
        guard key != "/", directories[key] == nil, !ancestors.contains(where: { files[$0] != nil }) else {
            return .failure(StoreError(.notFile, cause: key))
        }
        let previous = files.updateValue(FileNode(value: value, expiration: expiration), forKey: key)
        if previous == nil { link(key) }
        if let expiration { expiryQueue.insert(ExpiryItem(expiration: expiration, key: key)) }
        return .success(
            V1Response(
                action: .set, key: key, prevValue: previous?.value ?? "", value: value, isNewKey: previous == nil,
                expiration: expiration, index: entryIndex))
    }

    mutating func testAndSet(
        _ key: String, prevValue: String, value: String, expiration: Timestamp?, at entryIndex: UInt64
    ) -> Result<V1Response, StoreError> {
        // A failed test-and-set leaves the store index alone; only the set it turns into moves it.
        // A directory counts as missing, as in the original.
        switch (files[key]?.value, prevValue.isEmpty) {
        case (nil, true):
            return set(key, value: value, expiration: expiration, at: entryIndex)
        case (nil, false):
            return .failure(StoreError(.keyNotFound, cause: String(key.dropFirst())))
        case (let current?, _) where current != prevValue:
            return .failure(StoreError(.testFailed, cause: "TestAndSet: \(current)!=\(prevValue)"))
        case (_?, _):
            return set(key, value: value, expiration: expiration, at: entryIndex)
        }
    }

    mutating func delete(_ key: String, at entryIndex: UInt64) -> Result<V1Response, StoreError> {
        index = entryIndex
        guard let file = files[key] else { return .failure(StoreError(.keyNotFound, cause: key)) }
        unlink(key)
        return .success(
            V1Response(action: .delete, key: key, prevValue: file.value, expiration: file.expiration, index: entryIndex))
    }

    mutating func expire(_ key: String, expiration: Timestamp, at entryIndex: UInt64) -> Result<V1Response, StoreError> {
        // Only the very TTL that was scheduled may remove the key: a set after the authority
        // decided to expire it wins.
        guard let file = files[key], file.expiration == expiration else {
            return .failure(StoreError(.keyNotFound, cause: key))
        }
        index = entryIndex
        stats.deletes += 1
        unlink(key)
        return .success(
            V1Response(action: .delete, key: key, prevValue: file.value, expiration: expiration, index: entryIndex))
    }

    mutating func join(name: String, raftURL: String, etcdURL: String, at entryIndex: UInt64)
        -> Result<V1Response, StoreError>
    {
        let key = Self.machineKey(name)
        // Names are identities: a machine that joins again keeps the URLs it first registered.
        if let file = files[key] {
            return .success(V1Response(action: .get, key: key, value: file.value, index: index))
        }
        stats.sets += 1
        return set(key, value: "raft=\(raftURL)&etcd=\(etcdURL)", expiration: nil, at: entryIndex)
    }

    /// The machines registered under `/_etcd/machines`, with their values, by name.
    public func machines() -> [(name: String, value: String)] {
        (directories["/_etcd/machines"] ?? []).sorted().compactMap { name in
            files["/_etcd/machines/" + name].map { (name, $0.value) }
        }
    }

    /// Adds `key` to its parent's children, creating missing ancestor directories up to the
    /// first that already exists.
    private mutating func link(_ key: String) {
        var child = key
        while child != "/" {
            let parent = KeyPath.parent(child)
            let existed = directories[parent] != nil
            directories[parent, default: []].insert(Self.lastSegment(child))
            if existed { return }
            child = parent
        }
    }

    private mutating func unlink(_ key: String) {
        files[key] = nil
        directories[KeyPath.parent(key)]?.remove(Self.lastSegment(key))
    }

    private static func lastSegment(_ key: String) -> String {
        String(key[key.index(after: key.lastIndex(of: "/")!)...])
    }
}
