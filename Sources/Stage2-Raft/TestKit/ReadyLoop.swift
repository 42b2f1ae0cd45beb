import RaftCore

/// The points inside one Ready's handling where a process can die. The simulator crashes nodes
/// there, to prove that the order of the contract (persist, send, apply, advance) is what keeps
/// acknowledged entries safe.
public enum ReadyPoint: Sendable, Hashable, CaseIterable {
    case beforePersisting
    /// Only for a Ready that may be sent before it is written (`canSendBeforePersisting`).
    case afterSendingBeforePersisting
    case afterPersisting
    case afterSending
}

/// What one Ready's handling means beyond Raft's own steps: where messages go, what applying
/// an entry does, and, for the simulator, checks between the steps and crashes at them. Every
/// requirement has a default that does nothing, so a driver states only what it cares about.
public protocol ReadyHandler {
    associatedtype Failure: Error = Never
    /// Whether `node` dies at `point`; true ends the handling there, nothing after it done.
    mutating func crashes(_ node: NodeID, at point: ReadyPoint) throws(Failure) -> Bool
    /// About to write `ready` to `raft`'s storage (its log is still as before).
    mutating func willPersist(_ ready: Ready, on raft: RaftNode<MemoryStorage>) throws(Failure)
    /// `raft`'s storage now holds the Ready's snapshot, entries and hard state.
    mutating func didPersist(_ ready: Ready, on raft: RaftNode<MemoryStorage>) throws(Failure)
    /// Puts messages on the network.
    mutating func send(_ messages: [Message])
    /// About to apply `ready.committedEntries` on `raft`.
    mutating func willApply(_ ready: Ready, on raft: RaftNode<MemoryStorage>) throws(Failure)
    /// Applies one committed entry; a membership change is already applied to `raft`.
    mutating func apply(_ entry: Entry, on raft: inout RaftNode<MemoryStorage>) throws(Failure)
}

extension ReadyHandler {
    public mutating func crashes(_ node: NodeID, at point: ReadyPoint) throws(Failure) -> Bool { false }
    public mutating func willPersist(_ ready: Ready, on raft: RaftNode<MemoryStorage>) throws(Failure) {}
    public mutating func didPersist(_ ready: Ready, on raft: RaftNode<MemoryStorage>) throws(Failure) {}
    public mutating func willApply(_ ready: Ready, on raft: RaftNode<MemoryStorage>) throws(Failure) {}
    public mutating func apply(_ entry: Entry, on raft: inout RaftNode<MemoryStorage>) throws(Failure) {}
}

extension RaftNode where Storage == MemoryStorage {
    /// Handles one Ready exactly as its contract says, the same way for every in-memory driver
    /// (the test cluster, the golden interaction tests, the simulator, the benchmark):
    ///
    /// 1. persist the snapshot, the entries and the hard state (a leader whose term and vote
    ///    are already durable may send first, so its followers' writes overlap its own);
    /// 2. send the messages;
    /// 3. apply the committed entries, membership changes to the node itself;
    /// 4. `advance`.
    ///
    /// Returns the Ready handled, or nil if there was none or the handler crashed the node.
    @inlinable
    @discardableResult
    public mutating func handleReady<Handler: ReadyHandler>(with handler: inout Handler) throws(Handler.Failure) -> Ready? {
        guard hasReady else { return nil }
        let ready = self.ready()
        if try handler.crashes(id, at: .beforePersisting) { return nil }
        let sendFirst = ready.canSendBeforePersisting
        if sendFirst {
            handler.send(ready.messages)
            if try handler.crashes(id, at: .afterSendingBeforePersisting) { return nil }
        }
        try handler.willPersist(ready, on: self)
        if let snapshot = ready.snapshot {
            // The core offers only a snapshot newer than what the storage holds: a failure here
            // is a bug in the core, not a condition to carry on from.
            do { try storage.applySnapshot(snapshot) } catch { preconditionFailure("node \(id) could not apply snapshot \(snapshot.metadata): \(error)") }
        }
        storage.append(ready.entries)
        if let hardState = ready.hardState { storage.setHardState(hardState) }
        try handler.didPersist(ready, on: self)
        if try handler.crashes(id, at: .afterPersisting) { return nil }
        if !sendFirst { handler.send(ready.messages) }
        if try handler.crashes(id, at: .afterSending) { return nil }
        try handler.willApply(ready, on: self)
        for entry in ready.committedEntries {
            if entry.kind == .confChange {
                guard let change = ConfChange(encoded: entry.data) else { preconditionFailure("node \(id) committed an unreadable conf change at \(entry.index)") }
                applyConfChange(change)
            }
            try handler.apply(entry, on: &self)
        }
        advance(ready)
        return ready
    }
}
