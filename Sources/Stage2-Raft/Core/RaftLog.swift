/// The log as the core sees it: stable entries in storage, followed by unstable ones not yet
/// persisted (and perhaps a snapshot not yet persisted), plus the commit and apply indexes.
///
/// Invariants: `applied <= committed <= lastIndex`; `unstable[i]` is index `unstableOffset + i`.
struct RaftLog<Storage: RaftStorage> {
    var storage: Storage
    // Entries after the storage's last index, not yet persisted.
    var unstable: [Entry] = []
    var unstableOffset: UInt64
    // A snapshot received from the leader, not yet persisted.
    var unstableSnapshot: Snapshot?
    // The highest index known to be replicated on a quorum.
    var committed: UInt64
    // The highest index the application has applied.
    var applied: UInt64
    // The highest committed index handed to the application, not yet applied.
    var applying: UInt64

    init(storage: Storage) {
        self.storage = storage
        let first = storage.firstIndex()
        unstableOffset = storage.lastIndex() + 1
        committed = first - 1
        applied = first - 1
        applying = first - 1
    }

    var firstIndex: UInt64 {
        if let snapshot = unstableSnapshot { return snapshot.metadata.index + 1 }
        return storage.firstIndex()
    }

    var lastIndex: UInt64 {
        if !unstable.isEmpty { return unstableOffset + UInt64(unstable.count) - 1 }
        if let snapshot = unstableSnapshot { return snapshot.metadata.index }
        return storage.lastIndex()
    }

    var lastTerm: UInt64 { (try? term(lastIndex)) ?? 0 }

    /// The last index on stable storage: everything before the unstable tail.
    var persistedIndex: UInt64 {
        if unstableSnapshot != nil { return unstableOffset - 1 }
        return unstable.isEmpty ? lastIndex : unstableOffset - 1
    }

    func term(_ index: UInt64) throws(RaftError) -> UInt64 {
        // The term of the entry just before the first available one is still known.
        if index + 1 < firstIndex { throw .compacted }
        if index > lastIndex { throw .unavailable }
        if let snapshot = unstableSnapshot, index == snapshot.metadata.index { return snapshot.metadata.term }
        if index >= unstableOffset { return unstable[Int(index - unstableOffset)].term }
        return try storage.term(index)
    }

    func matchTerm(_ index: UInt64, _ term: UInt64) -> Bool {
        (try? self.term(index)) == term
    }

    /// Whether a candidate's log is at least as up to date as ours (Raft §5.4.1).
    func isUpToDate(lastIndex candidateIndex: UInt64, term candidateTerm: UInt64) -> Bool {
        candidateTerm > lastTerm || (candidateTerm == lastTerm && candidateIndex >= lastIndex)
    }

    /// Entries in `low ..< high`, from storage and the unstable tail.
    func slice(_ low: UInt64, _ high: UInt64, maxBytes: Int = .max) throws(RaftError) -> [Entry] {
        if low == high { return [] }
        if low < firstIndex { throw .compacted }
        if high > lastIndex + 1 { throw .unavailable }
        var result: [Entry] = []
        if low < unstableOffset {
            result = try storage.entries(low, min(high, unstableOffset), maxBytes: maxBytes)
            if UInt64(result.count) < min(high, unstableOffset) - low { return result }
        }
        if high > unstableOffset {
            let from = Int(max(low, unstableOffset) - unstableOffset), to = Int(high - unstableOffset)
            result += unstable[from..<to]
        }
        return limitSize(result, maxBytes: maxBytes)
    }

    func entries(from index: UInt64, maxBytes: Int) throws(RaftError) -> [Entry] {
        if index > lastIndex { return [] }
        return try slice(index, lastIndex + 1, maxBytes: maxBytes)
    }

    /// The index of the first entry that conflicts with ours (same index, other term), or of the
    /// first new entry, or 0 if all are already present.
    func findConflict(_ entries: [Entry]) -> UInt64 {
        for entry in entries where !matchTerm(entry.index, entry.term) { return entry.index }
        return 0
    }

    /// Fast backtracking: the largest index at or below `index` whose term is at most `term`,
    /// with that term. A leader that gets this hint skips a whole term of mismatches per round
    /// trip instead of one entry.
    func findConflictByTerm(_ index: UInt64, _ term: UInt64) -> (index: UInt64, term: UInt64) {
        var index = index
        while true {
            guard let ourTerm = try? self.term(index) else { return (index, 0) }
            if ourTerm <= term { return (index, ourTerm) }
            if index == 0 { return (0, 0) }
            index -= 1
        }
    }

    /// Appends the leader's entries after `(index, logTerm)` if our log matches there
    /// (Raft §5.3), truncating a conflicting suffix; returns the new last index, or nil on mismatch.
    mutating func maybeAppend(index: UInt64, logTerm: UInt64, committed leaderCommit: UInt64, entries: [Entry]) -> UInt64? {
        guard matchTerm(index, logTerm) else { return nil }
        let lastNew = index + UInt64(entries.count)
        let conflict = findConflict(entries)
        if conflict != 0 {
            precondition(conflict > committed, "entry \(conflict) conflicts with committed entry \(committed)")
            append(Array(entries[Int(conflict - index - 1)...]))
        }
        commit(to: min(leaderCommit, lastNew))
        return lastNew
    }

    /// Appends entries to the unstable tail, truncating whatever they replace.
    @discardableResult
    mutating func append(_ entries: [Entry]) -> UInt64 {
        guard let first = entries.first else { return lastIndex }
        precondition(first.index > committed, "appending at \(first.index) would overwrite committed \(committed)")
        if first.index == unstableOffset + UInt64(unstable.count) {
            unstable += entries
        } else if first.index <= unstableOffset {
            // Replaces part of the stable log: the unstable tail starts over here.
            unstableOffset = first.index
            unstable = entries
        } else {
            unstable = Array(unstable[..<Int(first.index - unstableOffset)]) + entries
        }
        return lastIndex
    }

    mutating func commit(to index: UInt64) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "commit \(index) is past the last index \(lastIndex)")
        committed = index
    }

    /// Commits `index` only if it is from the current term: a leader never commits entries of
    /// earlier terms by counting replicas (Raft §5.4.2, Figure 8).
    mutating func maybeCommit(_ index: UInt64, term: UInt64) -> Bool {
        guard index > committed, (try? self.term(index)) == term else { return false }
        commit(to: index)
        return true
    }

    /// Committed entries not yet handed to the application.
    func nextCommittedEntries(maxBytes: Int = .max) -> [Entry] {
        let low = max(applying + 1, firstIndex)
        guard committed + 1 > low else { return [] }
        return (try? slice(low, committed + 1, maxBytes: maxBytes)) ?? []
    }

    /// Whether `nextCommittedEntries` would return anything, without copying them.
    var hasNextCommittedEntries: Bool { committed > max(applying, firstIndex - 1) }

    mutating func acceptApplying(_ index: UInt64) { applying = max(applying, index) }

    mutating func appliedTo(_ index: UInt64) {
        guard index > applied else { return }
        precondition(index <= committed, "applied \(index) is past committed \(committed)")
        applied = index
        applying = max(applying, index)
    }

    /// The entries persisted: drop them from the unstable tail if it still holds them.
    mutating func stableTo(index: UInt64, term: UInt64) {
        guard index >= unstableOffset, index < unstableOffset + UInt64(unstable.count),
            unstable[Int(index - unstableOffset)].term == term
        else { return }
        unstable.removeFirst(Int(index - unstableOffset) + 1)
        unstableOffset = index + 1
    }

    mutating func stableSnapshot(to index: UInt64) {
        if unstableSnapshot?.metadata.index == index { unstableSnapshot = nil }
    }

    /// Replaces the log with a snapshot from the leader.
    mutating func restore(_ snapshot: Snapshot) {
        committed = snapshot.metadata.index
        unstableOffset = snapshot.metadata.index + 1
        unstable = []
        unstableSnapshot = snapshot
    }

    func snapshot() throws(RaftError) -> Snapshot {
        if let unstableSnapshot { return unstableSnapshot }
        return try storage.snapshot()
    }
}
extension RaftLog: Sendable where Storage: Sendable {}
