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
    /// The last key of each chunk, in step with `chunks`. The search needs only that each is at
    /// or above its chunk's last key and below the next chunk's first (a split must set both
    /// halves'); keeping them exact on appends and removals too keeps that plain and holds no
    /// removed key. `checkInvariants` says whether they are exact.
    private var lastKeys: [Key] = []
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

    /// The chunk that holds `key`, or would: the first whose last key is not below it. The last
    /// keys have an array of their own, so this search reads one contiguous array rather than
    /// reaching into a chunk at every step (it was most of the index's cost with millions of keys).
    private func chunkIndex(for key: Key) -> Int {
        var low = 0, high = lastKeys.count
        while low < high {
            let middle = (low + high) / 2
            if Self.less(lastKeys[middle], key) { low = middle + 1 } else { high = middle }
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

    /// Where a key is, or would go: its chunk, its position there, and whether it is there. Good
    /// only until the index next changes; a put looks its key up once, reads the history there,
    /// and appends at the same place without a second search.
    struct Place: Equatable {
        fileprivate let chunk: Int
        fileprivate let position: Int
        let found: Bool
    }

    func place(of key: Key) -> Place {
        guard !chunks.isEmpty else { return Place(chunk: 0, position: 0, found: false) }
        let c = chunkIndex(for: key)
        let p = Self.position(of: key, in: chunks[c])
        return Place(chunk: c, position: p, found: p < chunks[c].count && chunks[c][p].key == key)
    }

    /// The value at `place`, if its key is there.
    func value(at place: Place) -> Value? {
        place.found ? chunks[place.chunk][place.position].value : nil
    }

    subscript(key: Key) -> Value? {
        get { value(at: place(of: key)) }
        set {
            if let newValue {
                modify(at: place(of: key), key, initial: newValue) { $0 = newValue }
            } else {
                remove(key)
            }
        }
    }

    /// Changes the value at `key` in place (starting from `initial` if absent): appending to a
    /// long history this way costs no copy of it.
    mutating func modify(_ key: Key, initial: @autoclosure () -> Value, _ body: (inout Value) -> Void) {
        modify(at: place(of: key), key, initial: initial(), body)
    }

    /// `modify` at a place `place(of: key)` gave since the index last changed. Only debug builds
    /// check that it did: a stale place in a release build puts the key out of order.
    mutating func modify(at place: Place, _ key: Key, initial: @autoclosure () -> Value, _ body: (inout Value) -> Void) {
        assert(self.place(of: key) == place, "a place from before the index changed")
        if place.found {
            body(&chunks[place.chunk][place.position].value)
            return
        }
        var value = initial()
        body(&value)
        insert(key, value, at: place)
    }

    /// Inserts a key not in the index where `place(of:)` said it goes.
    private mutating func insert(_ key: Key, _ value: Value, at place: Place) {
        guard !chunks.isEmpty else {
            chunks = [[(key, value)]]
            lastKeys = [key]
            count = 1
            return
        }
        let c = place.chunk
        if place.position == chunks[c].count { lastKeys[c] = key }
        chunks[c].insert((key, value), at: place.position)
        count += 1
        if chunks[c].count > chunkLimit {
            let upper = Array(chunks[c][(chunkLimit / 2)...])
            chunks[c].removeLast(chunks[c].count - chunkLimit / 2)
            chunks.insert(upper, at: c + 1)
            lastKeys[c] = chunks[c][chunks[c].count - 1].key
            lastKeys.insert(upper[upper.count - 1].key, at: c + 1)
        }
    }

    private mutating func remove(_ key: Key) {
        let place = self.place(of: key)
        guard place.found else { return }
        let c = place.chunk
        chunks[c].remove(at: place.position)
        count -= 1
        if chunks[c].isEmpty {
            chunks.remove(at: c)
            lastKeys.remove(at: c)
        } else if place.position == chunks[c].count {
            lastKeys[c] = chunks[c][chunks[c].count - 1].key
        }
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

    /// Whether the structure is as the rest assumes, for tests: no empty or overfull chunk, keys
    /// strictly ascending across all of them, each chunk's last key recorded, and the count right.
    func checkInvariants() -> Bool {
        var previous: Key?
        var total = 0
        for chunk in chunks {
            guard !chunk.isEmpty, chunk.count <= chunkLimit else { return false }
            for entry in chunk {
                if let previous, !Self.less(previous, entry.key) { return false }
                previous = entry.key
            }
            total += chunk.count
        }
        return lastKeys == chunks.map { $0[$0.count - 1].key } && total == count
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
        lastKeys = rebuilt.map { $0[$0.count - 1].key }
        count = total
    }
}

extension OrderedIndex: Sendable where Value: Sendable {}
