/// What one user may read, or write: the union of the key ranges its roles were granted, as
/// etcd's range permission cache merges them (an interval tree there; a sorted list of
/// disjoint intervals here, which answers the same two questions).
///
/// Keys are compared as bytes. A grant is a single key (`rangeEnd` empty), a range
/// [key, rangeEnd), or everything from `key` on (`rangeEnd` "\0"). A request for a range is
/// allowed only if the grants together cover all of it; overlapping and adjacent grants join.
struct KeyPermissions: Sendable, Equatable {
    /// Disjoint, in order, none touching the next. `end` nil: no upper bound.
    private(set) var intervals: [(start: [UInt8], end: [UInt8]?)] = []

    static func == (a: KeyPermissions, b: KeyPermissions) -> Bool {
        a.intervals.elementsEqual(b.intervals) { $0.start == $1.start && $0.end == $1.end }
    }

    /// The interval a grant or a request names: a single key is [key, key + "\0").
    static func interval(key: [UInt8], rangeEnd: [UInt8]) -> (start: [UInt8], end: [UInt8]?) {
        if rangeEnd.isEmpty { return (key, key + [0]) }
        if rangeEnd == [0] { return (key, nil) }
        return (key, rangeEnd)
    }

    init(_ grants: [(key: [UInt8], rangeEnd: [UInt8])]) {
        let sorted = grants.map { Self.interval(key: $0.key, rangeEnd: $0.rangeEnd) }
            .sorted { $0.start.lexicographicallyPrecedes($1.start) }
        for next in sorted {
            // An empty interval (end at or before start) grants nothing.
            if let end = next.end, !next.start.lexicographicallyPrecedes(end) { continue }
            if let last = intervals.last, Self.reaches(last.end, next.start) {
                intervals[intervals.count - 1].end = Self.later(last.end, next.end)
            } else {
                intervals.append(next)
            }
        }
    }

    /// Whether every key in [key, rangeEnd) (or the one key) is covered.
    func covers(key: [UInt8], rangeEnd: [UInt8]) -> Bool {
        let wanted = Self.interval(key: key, rangeEnd: rangeEnd)
        // An empty request range asks for nothing; etcd's tree refuses it all the same.
        if let end = wanted.end, !wanted.start.lexicographicallyPrecedes(end) { return false }
        // The last interval starting at or before the request's start is the only one that
        // can hold it, since they are disjoint and do not touch.
        guard let holder = intervals.last(where: { !wanted.start.lexicographicallyPrecedes($0.start) }) else { return false }
        guard let holderEnd = holder.end else { return true }
        guard let wantedEnd = wanted.end else { return false }
        return !holderEnd.lexicographicallyPrecedes(wantedEnd)
    }

    /// Whether an interval ending at `end` reaches (touches or overlaps) one starting at `start`.
    private static func reaches(_ end: [UInt8]?, _ start: [UInt8]) -> Bool {
        guard let end else { return true }
        return !end.lexicographicallyPrecedes(start)
    }

    private static func later(_ a: [UInt8]?, _ b: [UInt8]?) -> [UInt8]? {
        guard let a, let b else { return nil }
        return a.lexicographicallyPrecedes(b) ? b : a
    }
}

