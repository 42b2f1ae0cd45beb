/// The store as bytes, for Raft snapshots: the tree, the index, the watch history and the
/// counters. Format version 1, little-endian, every read bounds-checked.
extension KeyStore {
    /// A snapshot could not be read back.
    public struct SnapshotError: Error, CustomStringConvertible {
        /// What is wrong with it.
        public var description: String
    }

    /// Serializes the whole store.
    public func encoded() -> [UInt8] {
        var out = SnapshotWriter()
        out.u8(1)
        out.u64(index)
        for counter in [stats.gets, stats.sets, stats.deletes, stats.testAndSets] { out.u64(counter) }
        out.u64(history.capacity == Int.max ? UInt64.max : UInt64(history.capacity))
        out.u64(history.clearedThrough)
        out.u32(UInt32(history.retained.count))
        for event in history.retained {
            out.u8(event.action == .set ? 1 : event.action == .delete ? 2 : 0)
            out.text(event.key)
            out.u8(event.isDirectory ? 1 : 0)
            out.text(event.prevValue)
            out.text(event.value)
            out.u8(event.isNewKey ? 1 : 0)
            out.expiration(event.expiration)
            out.u64(event.index)
        }
        out.u32(UInt32(files.count))
        for (key, file) in files.sorted(by: { $0.key < $1.key }) {
            out.text(key.string)
            out.text(file.value)
            out.expiration(file.expiration)
        }
        out.u32(UInt32(directories.count))
        for (key, children) in directories.sorted(by: { $0.key < $1.key }) {
            out.text(key.string)
            out.u32(UInt32(children.count))
            for child in children.sorted() { out.text(child.string) }
        }
        return out.bytes
    }

    /// Rebuilds a store from `encoded()`'s bytes.
    public init(encoded bytes: [UInt8]) throws(SnapshotError) {
        var input = SnapshotReader(bytes: bytes)
        func fail(_ what: String) -> SnapshotError { SnapshotError(description: "store snapshot: \(what)") }
        guard input.u8() == 1 else { throw fail("unknown format version") }
        guard let index = input.u64(), let gets = input.u64(), let sets = input.u64(), let deletes = input.u64(),
            let testAndSets = input.u64(), let capacity = input.u64(), let cleared = input.u64(), let eventCount = input.u32()
        else { throw fail("truncated header") }
        var events: [V1Response] = []
        for _ in 0..<eventCount {
            guard let action = input.u8(), let key = input.text(), let isDirectory = input.u8(), let prev = input.text(),
                let value = input.text(), let isNew = input.u8(), let expiration = input.expiration(), let eventIndex = input.u64()
            else { throw fail("truncated history") }
            events.append(V1Response(
                action: action == 1 ? .set : action == 2 ? .delete : .get, key: key, isDirectory: isDirectory == 1,
                prevValue: prev, value: value, isNewKey: isNew == 1, expiration: expiration, index: eventIndex))
        }
        // A damaged count must be refused, not trap converting it (found by fuzzing).
        guard let historyCapacity = capacity == UInt64.max ? -1 : Int(exactly: capacity) else { throw fail("history capacity out of range") }
        self.init(historyCapacity: historyCapacity)
        history = EventHistory(capacity: history.capacity, events: events, clearedThrough: cleared)
        guard let fileCount = input.u32() else { throw fail("truncated tree") }
        for _ in 0..<fileCount {
            guard let key = input.text(), let value = input.text(), let expiration = input.expiration() else { throw fail("truncated files") }
            files[ByteString(key)] = FileNode(value: value, expiration: expiration)
            if let expiration {
                filesWithTTL += 1
                expiryQueue.insert(ExpiryItem(expiration: expiration, key: key))
            }
        }
        guard let directoryCount = input.u32() else { throw fail("truncated tree") }
        for _ in 0..<directoryCount {
            guard let key = input.text(), let childCount = input.u32() else { throw fail("truncated directories") }
            var children = Set<ByteString>()
            for _ in 0..<childCount {
                guard let child = input.text() else { throw fail("truncated directories") }
                children.insert(ByteString(child))
            }
            directories[ByteString(key)] = children
        }
        guard input.isAtEnd else { throw fail("trailing bytes") }
        self.index = index
        stats = StoreStats()
        stats.gets = gets
        stats.sets = sets
        stats.deletes = deletes
        stats.testAndSets = testAndSets
    }
}

private struct SnapshotWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u32(_ value: UInt32) { for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) } }
    mutating func u64(_ value: UInt64) { for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) } }
    mutating func text(_ value: String) {
        u32(UInt32(value.utf8.count))
        bytes += value.utf8
    }
    mutating func expiration(_ value: Timestamp?) {
        u8(value == nil ? 0 : 1)
        u64(UInt64(bitPattern: value?.nanoseconds ?? 0))
    }
}

private struct SnapshotReader {
    let bytes: [UInt8]
    var position = 0
    var isAtEnd: Bool { position == bytes.count }

    mutating func u8() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }
    mutating func u32() -> UInt32? {
        guard position + 4 <= bytes.count else { return nil }
        defer { position += 4 }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[position + $1]) << UInt32($1 * 8) }
    }
    mutating func u64() -> UInt64? {
        guard position + 8 <= bytes.count else { return nil }
        defer { position += 8 }
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[position + $1]) << UInt64($1 * 8) }
    }
    mutating func text() -> String? {
        guard let count = u32(), position + Int(count) <= bytes.count else { return nil }
        defer { position += Int(count) }
        return String(validating: bytes[position..<position + Int(count)], as: UTF8.self)
    }
    mutating func expiration() -> Timestamp?? {
        guard let flag = u8(), let value = u64() else { return nil }
        return .some(flag == 1 ? Timestamp(nanoseconds: Int64(bitPattern: value)) : nil)
    }
}
