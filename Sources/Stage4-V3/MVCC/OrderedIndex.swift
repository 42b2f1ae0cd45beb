#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keys in byte order, for range reads: a sorted sequence of sorted chunks, a B-tree of height
/// two. A write touches one chunk of at most `chunkLimit` keys, so inserting costs about
/// log(n) comparisons plus a move of a few hundred entries, never a rebuild of the whole index;
/// a range read is a binary search and then a walk. Simple enough to read in one sitting, which
/// a general B-tree is not.
struct OrderedIndex<Value> {
    typealias Key = [UInt8]
    private(set) var count = 0
    private var chunks: [[(key: Key, value: Value)]] = []
    private let chunkLimit = 512

    /// Byte-wise order, as Go compares []byte: the order etcd's ranges use. `memcmp` compares
    /// the common prefix (a lookup makes about log2(n) comparisons, and the generic
    /// `lexicographicallyPrecedes` cost about 3% of a member's CPU under puts); then the shorter
    /// key comes first.
    static func less(_ a: Key, _ b: Key) -> Bool {
        let common = min(a.count, b.count)
        if common > 0 {
            let order = a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in memcmp(a.baseAddress!, b.baseAddress!, common) }
            }
            if order != 0 { return order < 0 }
        }
        return a.count < b.count
    }

    /// The chunk that holds `key`, or would: the first whose last key is not below it.
    private func chunkIndex(for key: Key) -> Int {
        var low = 0, high = chunks.count
        while low < high {
            let middle = (low + high) / 2
            if Self.less(chunks[middle][chunks[middle].count - 1].key, key) { low = middle + 1 } else { high = middle }
        }
        return min(low, max(chunks.count - 1, 0))
    }

    /// The position of the first entry in `chunk` not below `key`.
    private static func position(of key: Key, in chunk: [(key: Key, value: Value)]) -> Int {
        var low = 0, high = chunk.count
        while low < high {
            let middle = (low + high) / 2
            if less(chunk[middle].key, key) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Where `key` is, or would go: its chunk, its position there, and whether it is there.
    /// Nil with no chunks.
    private func locate(_ key: Key) -> (chunk: Int, position: Int, found: Bool)? {
        guard !chunks.isEmpty else { return nil }
        let c = chunkIndex(for: key)
        let p = Self.position(of: key, in: chunks[c])
        return (c, p, p < chunks[c].count && chunks[c][p].key == key)
    }

    subscript(key: Key) -> Value? {
        get {
            guard let (c, p, found) = locate(key), found else { return nil }
            return chunks[c][p].value
        }
        set {
            if let newValue { insert(key, newValue) } else { remove(key) }
        }
    }

    /// Changes the value at `key` in place (starting from `initial` if absent): appending to a
    /// long history this way costs no copy of it.
    mutating func modify(_ key: Key, initial: @autoclosure () -> Value, _ body: (inout Value) -> Void) {
        let place = locate(key)
        if let (c, p, found) = place, found {
            body(&chunks[c][p].value)
            return
        }
        var value = initial()
        body(&value)
        insert(key, value, at: place)
    }

    private mutating func insert(_ key: Key, _ value: Value) {
        let place = locate(key)
        if let (c, p, found) = place, found {
            chunks[c][p].value = value
            return
        }
        insert(key, value, at: place)
    }

    /// Inserts a key not in the index where `locate` said it goes (nil: the index is empty).
    private mutating func insert(_ key: Key, _ value: Value, at place: (chunk: Int, position: Int, found: Bool)?) {
        guard let (c, p, _) = place else {
            chunks = [[(key, value)]]
            count = 1
            return
        }
        chunks[c].insert((key, value), at: p)
        count += 1
        if chunks[c].count > chunkLimit {
            let upper = Array(chunks[c][(chunkLimit / 2)...])
            chunks[c].removeLast(chunks[c].count - chunkLimit / 2)
            chunks.insert(upper, at: c + 1)
        }
    }

    private mutating func remove(_ key: Key) {
        guard let (c, p, found) = locate(key), found else { return }
        chunks[c].remove(at: p)
        count -= 1
        if chunks[c].isEmpty { chunks.remove(at: c) }
    }

    /// Visits the entries with `start <= key < end` in order (`end` nil: to the last key)
    /// until `body` returns false.
    func forEach(from start: Key, below end: Key?, _ body: (Key, Value) -> Bool) {
        guard !chunks.isEmpty else { return }
        var c = chunkIndex(for: start)
        var p = Self.position(of: start, in: chunks[c])
        while c < chunks.count {
            let chunk = chunks[c]
            while p < chunk.count {
                let entry = chunk[p]
                if let end, !Self.less(entry.key, end) { return }
                if !body(entry.key, entry.value) { return }
                p += 1
            }
            c += 1
            p = 0
        }
    }

    /// Rewrites or drops every value; used by compaction.
    mutating func compactMap(_ transform: (Key, Value) -> Value?) {
        var rebuilt: [[(key: Key, value: Value)]] = []
        var total = 0
        for chunk in chunks {
            let kept = chunk.compactMap { entry in transform(entry.key, entry.value).map { (entry.key, $0) } }
            if !kept.isEmpty {
                rebuilt.append(kept)
                total += kept.count
            }
        }
        chunks = rebuilt
        count = total
    }
}

extension OrderedIndex: Sendable where Value: Sendable {}
