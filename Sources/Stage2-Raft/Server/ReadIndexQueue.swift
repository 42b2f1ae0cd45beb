import BinaryCodec
import NIOCore

/// The bookkeeping of linearizable reads, batched as etcd's read loop batches them, with no
/// event loop, Raft node or clock inside: the server tells it what happened (a read asked,
/// Raft's answer, an index applied, a timeout, a leader change) and carries out what it returns
/// (a context to ask Raft's ReadIndex with, waiters to complete or fail). `ReadIndexQueueTests`
/// drive it by hand.
///
/// The rule: one ReadIndex is unconfirmed at a time; reads that arrive meanwhile wait for the
/// next one, which starts after they arrived and so covers every write they could have seen.
/// Sixteen concurrent reads cost one round of heartbeats, not sixteen.
struct ReadIndexQueue<Waiter> {
    /// The waiters of one ReadIndex, and the index they need applied once a quorum confirmed it.
    struct Request {
        var waiters: [Waiter]
        var index: UInt64?
    }

    /// Reads waiting for the next ReadIndex.
    private(set) var queued: [Waiter] = []
    /// By context: ReadIndex requests, and waits for a known index (`wait(_:for:)`).
    private(set) var requests: [UInt64: Request] = [:]
    /// The ReadIndex asked and not yet confirmed, if any.
    private(set) var unconfirmed: UInt64?
    // When `unconfirmed` was last asked.
    private var unconfirmedSince = NIODeadline.uptimeNanoseconds(0)
    private var nextContext: UInt64 = 1

    /// How many contexts were handed out (ReadIndex requests and waits), for tests.
    var contextsIssued: UInt64 { nextContext - 1 }

    mutating func enqueue(_ waiter: Waiter) { queued.append(waiter) }

    /// Takes every queued read into one new ReadIndex, unless one is unconfirmed or none is
    /// queued; returns the context to ask Raft with.
    mutating func startNext(at now: NIODeadline) -> UInt64? {
        guard unconfirmed == nil, !queued.isEmpty else { return nil }
        let context = take()
        requests[context] = Request(waiters: queued, index: nil)
        queued = []
        (unconfirmed, unconfirmedSince) = (context, now)
        return context
    }

    /// The queued reads, removed (there is no leader to ask).
    mutating func takeQueued() -> [Waiter] {
        defer { queued = [] }
        return queued
    }

    /// A wait for `index` to be applied, with no ReadIndex (the index is known already).
    mutating func wait(_ waiter: Waiter, for index: UInt64) -> UInt64 {
        let context = take()
        requests[context] = Request(waiters: [waiter], index: index)
        return context
    }

    /// The unconfirmed ReadIndex, to ask again under the same context, once `interval` has
    /// passed since it was last asked: its request or answer was lost, and every read queued
    /// behind it would otherwise wait for the timeout (etcd retries after 500 ms).
    mutating func retry(at now: NIODeadline, after interval: TimeAmount) -> UInt64? {
        guard let context = unconfirmed, now - unconfirmedSince >= interval else { return nil }
        unconfirmedSince = now
        return context
    }

    /// Raft confirmed `context` at `index`, even if its waiters gave up: the next may start.
    mutating func confirm(_ context: UInt64, index: UInt64) {
        if unconfirmed == context { unconfirmed = nil }
        requests[context]?.index = index
    }

    /// The requests whose index is applied, removed.
    mutating func takeApplied(through applied: UInt64) -> [(context: UInt64, waiters: [Waiter])] {
        let done = requests.filter { $0.value.index.map { $0 <= applied } ?? false }
        for context in done.keys { requests[context] = nil }
        return done.map { ($0.key, $0.value.waiters) }
    }

    /// `context` timed out: its waiters, removed (nil if it completed first); an unconfirmed
    /// one no longer holds up the next.
    mutating func takeTimedOut(_ context: UInt64) -> [Waiter]? {
        guard let request = requests.removeValue(forKey: context) else { return nil }
        if unconfirmed == context { unconfirmed = nil }
        return request.waiters
    }

    /// Leadership moved: the requests not yet confirmed may never be (the old leader is
    /// gone), so they are removed for their callers to hear so at once.
    mutating func takeUnconfirmed() -> [(context: UInt64, waiters: [Waiter])] {
        let pending = requests.filter { $0.value.index == nil }
        for context in pending.keys { requests[context] = nil }
        unconfirmed = nil
        return pending.map { ($0.key, $0.value.waiters) }
    }

    /// Everything, removed (the server is stopping).
    mutating func takeAll() -> [Waiter] {
        defer { (queued, requests, unconfirmed) = ([], [:], nil) }
        return queued + requests.values.flatMap(\.waiters)
    }

    private mutating func take() -> UInt64 {
        defer { nextContext += 1 }
        return nextContext
    }

    /// A context as Raft carries it (`ReadState.requestContext`), and back.
    static func bytes(_ context: UInt64) -> [UInt8] {
        var writer = ByteWriter()
        writer.u64(context)
        return writer.bytes
    }

    static func context(_ bytes: [UInt8]) -> UInt64? {
        var reader = ByteReader(bytes[...])
        return reader.u64()
    }
}
