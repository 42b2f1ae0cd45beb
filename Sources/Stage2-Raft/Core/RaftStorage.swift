/// The stable part of the log, as the core reads it. The shell writes to it (persisting each
/// `Ready`); the core only reads, and never assumes a read is cheap.
///
/// Indexes: entries `firstIndex ... lastIndex` are available; everything before `firstIndex` is
/// in the snapshot, whose index is `firstIndex - 1`.
public protocol RaftStorage {
    /// The hard state and membership saved last.
    func initialState() -> (HardState, ConfState)
    /// Entries in `low ..< high`, stopping once they exceed `maxBytes` (always at least one).
    func entries(_ low: UInt64, _ high: UInt64, maxBytes: Int) throws(RaftError) -> [Entry]
    /// The term of entry `index`; the snapshot's index also has a term.
    func term(_ index: UInt64) throws(RaftError) -> UInt64
    /// The first index not in the snapshot.
    func firstIndex() -> UInt64
    /// The last index stored.
    func lastIndex() -> UInt64
    /// The most recent snapshot.
    func snapshot() throws(RaftError) -> Snapshot
}

/// Raft storage in memory: for tests, the simulator, and as the cache in front of the WAL.
///
/// `entries[0]` is a placeholder holding the snapshot's index and term, so `entries[i]` is log
/// index `entries[0].index + i`.
public struct MemoryStorage: RaftStorage, Sendable {
    /// The saved hard state.
    public private(set) var hardState = HardState()
    private var currentSnapshot = Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, confState: ConfState()))
    private var log: [Entry] = [Entry(term: 0, index: 0)]

    /// Makes empty storage; the membership starts as `confState`.
    public init(confState: ConfState = ConfState()) {
        currentSnapshot.metadata.confState = confState
    }

    public func initialState() -> (HardState, ConfState) { (hardState, currentSnapshot.metadata.confState) }

    public func entries(_ low: UInt64, _ high: UInt64, maxBytes: Int) throws(RaftError) -> [Entry] {
        let offset = log[0].index
        if low <= offset { throw .compacted }
        if high > lastIndex() + 1 { throw .unavailable }
        return limitSize(Array(log[Int(low - offset)..<Int(high - offset)]), maxBytes: maxBytes)
    }

    public func term(_ index: UInt64) throws(RaftError) -> UInt64 {
        let offset = log[0].index
        if index < offset { throw .compacted }
        if Int(index - offset) >= log.count { throw .unavailable }
        return log[Int(index - offset)].term
    }

    public func firstIndex() -> UInt64 { log[0].index + 1 }
    public func lastIndex() -> UInt64 { log[0].index + UInt64(log.count) - 1 }
    public func snapshot() throws(RaftError) -> Snapshot { currentSnapshot }

    /// The snapshot's index, term and membership.
    public var snapshotMetadata: SnapshotMetadata { currentSnapshot.metadata }

    /// Saves the hard state.
    public mutating func setHardState(_ state: HardState) { hardState = state }

    /// Saves entries, replacing any conflicting suffix (a new leader may overwrite
    /// uncommitted entries, Raft §5.3).
    public mutating func append(_ entries: [Entry]) {
        guard let first = entries.first else { return }
        let offset = log[0].index
        if first.index + UInt64(entries.count) - 1 <= offset { return }
        let usable = first.index <= offset ? Array(entries.dropFirst(Int(offset + 1 - first.index))) : entries
        guard let start = usable.first?.index else { return }
        let position = Int(start - offset)
        precondition(position <= log.count, "missing log entries: last \(lastIndex()), appending at \(start)")
        log.removeSubrange(position...)
        log.append(contentsOf: usable)
    }

    /// Replaces everything with a snapshot received from the leader.
    public mutating func applySnapshot(_ snapshot: Snapshot) throws(RaftError) {
        guard snapshot.metadata.index > currentSnapshot.metadata.index else { throw .compacted }
        currentSnapshot = snapshot
        log = [Entry(term: snapshot.metadata.term, index: snapshot.metadata.index)]
    }

    /// Records a snapshot of the state machine at `index` (which must be applied), with its data.
    @discardableResult
    public mutating func createSnapshot(at index: UInt64, confState: ConfState, data: [UInt8]) throws(RaftError) -> Snapshot {
        guard index > currentSnapshot.metadata.index else { throw .compacted }
        guard index <= lastIndex() else { throw .unavailable }
        currentSnapshot = Snapshot(
            metadata: SnapshotMetadata(index: index, term: try term(index), confState: confState), data: data)
        return currentSnapshot
    }

    /// Discards entries up to `index`, which a snapshot must already cover.
    public mutating func compact(through index: UInt64) throws(RaftError) {
        let offset = log[0].index
        guard index > offset else { throw .compacted }
        guard index <= lastIndex() else { throw .unavailable }
        let position = Int(index - offset)
        log[0] = Entry(term: log[position].term, index: index)
        log.removeSubrange(1...position)
    }
}

/// The longest prefix of `entries` within `maxBytes`, but always at least one entry.
func limitSize(_ entries: [Entry], maxBytes: Int) -> [Entry] {
    guard entries.count > 1 else { return entries }
    var total = 0
    for (position, entry) in entries.enumerated() {
        total += entry.byteCount
        if total > maxBytes && position > 0 { return Array(entries[..<position]) }
    }
    return entries
}
