import EtcdAPI
import Foundation
import GRPCCore
import Synchronization

/// etcd's Watch service: one bidirectional stream carries many watchers. Every response goes
/// through one outbox per stream, in the order it was produced: a watcher's `created` is put
/// there before the watcher is registered, so it precedes that watcher's first event.
struct WatchService: Etcdserverpb_Watch.ServiceProtocol {
    let backend: V3Backend

    func watch(
        request: StreamingServerRequest<Etcdserverpb_WatchRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Etcdserverpb_WatchResponse> {
        // clientv3 marks watches "require a leader"; without one, etcd refuses rather than let
        // the watcher wait silently on a partitioned member.
        if request.metadata[stringValues: "hasleader"].contains("true") && backend.raft.status.leader == 0 {
            throw V3Backend.rpcError(V3Error.noLeader)
        }
        // Kept to check each watch the stream creates, as etcd does (a token may expire meanwhile).
        let credentials = WatchSession.Credentials(
            token: CallIdentity.token(request.metadata),
            commonName: backend.clientCertAuth ? request.metadata[stringValues: CallIdentity.commonNameHeader].first(where: { _ in true }) : nil)
        return StreamingServerResponse { writer in
            // Until the client goes (the gateway's in-process calls end only by this signal).
            try await untilCallCancelled(context) { try await serve(request.messages, writer, credentials: credentials) }
            return [:]
        }
    }

    private func serve(
        _ request: RPCAsyncSequence<Etcdserverpb_WatchRequest, any Error>, _ response: RPCWriter<Etcdserverpb_WatchResponse>,
        credentials: WatchSession.Credentials
    ) async throws {
        let (outbox, continuation) = AsyncStream<Etcdserverpb_WatchResponse>.makeStream()
        let sink = Outbox(continuation)
        let session = WatchSession(backend: backend, sink: sink, credentials: credentials)
        let interval = backend.progressNotifyInterval
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in outbox {
                    try await response.write(message)
                    // Written: room again for this stream's watchers set aside by a full outbox.
                    if sink.written() { backend.machine.retryBlockedWatchers(session.registeredTokens) }
                }
            }
            // Progress notifications on a timer, for watchers that asked (as etcd's send loop).
            group.addTask {
                while true {
                    try await Task.sleep(for: interval)
                    session.notifyProgress()
                }
            }
            defer {
                session.end()
                continuation.finish()
            }
            for try await message in request { session.handle(message) }
            // The client closed its sending side: its watchers go on (as etcd's do) until the
            // call ends, which cancels this task and ends the outbox.
            try await group.waitForAll()
        }
    }
}

/// A stream's responses waiting to be written, counted: events are offered and refused once
/// `capacity` wait (the watcher is set aside and catches up from history later), so a client
/// that reads slowly costs a bounded amount of memory. Other answers (created, canceled,
/// progress) always go in.
final class Outbox: Sendable {
    /// etcd's per-stream buffer (chanBufLen).
    static let capacity = 128
    private let continuation: AsyncStream<Etcdserverpb_WatchResponse>.Continuation
    private let counts = Mutex((pending: 0, refused: false))

    init(_ continuation: AsyncStream<Etcdserverpb_WatchResponse>.Continuation) {
        self.continuation = continuation
    }

    func yield(_ response: Etcdserverpb_WatchResponse) {
        counts.withLock { $0.pending += 1 }
        continuation.yield(response)
    }

    /// Queues `responses` (the pieces of one delivery) unless the outbox is full.
    func offer(_ responses: [Etcdserverpb_WatchResponse]) -> Bool {
        let accepted = counts.withLock { counts -> Bool in
            guard counts.pending < Self.capacity else {
                counts.refused = true
                return false
            }
            counts.pending += responses.count
            return true
        }
        if accepted { for response in responses { continuation.yield(response) } }
        return accepted
    }

    /// One response was written; true when something was refused and there is room again.
    func written() -> Bool {
        counts.withLock { counts in
            counts.pending -= 1
            guard counts.refused && counts.pending <= Self.capacity / 2 else { return false }
            counts.refused = false
            return true
        }
    }
}

/// The watchers of one stream, by the IDs the client knows them by.
final class WatchSession: Sendable {
    let backend: V3Backend
    let sink: Outbox
    private let state = Mutex(State())

    private struct State {
        var tokens: [Int64: UInt64] = [:]
        var nextID: Int64 = 0
        var ended = false
        /// Watchers that asked for progress notifications: whether nothing was sent to each
        /// since the last tick (only those are notified, as etcd does).
        var idle: [Int64: Bool] = [:]
    }

    /// The stream's token and certificate name, from which each watch's caller is found.
    struct Credentials: Sendable {
        var token: String?
        var commonName: String?
    }

    let credentials: Credentials

    init(backend: V3Backend, sink: Outbox, credentials: Credentials = Credentials()) {
        self.backend = backend
        self.sink = sink
        self.credentials = credentials
    }

    /// Why the caller may not watch [key, end), as etcd words it in a cancel reason (the whole
    /// gRPC error text), or nil if it may.
    private func refusal(key: [UInt8], end: [UInt8]) -> String? {
        let outcome: Result<Void, V3Error>
        do {
            let caller = try backend.machine.identify(token: credentials.token, commonName: credentials.commonName) ?? .nobody
            outcome = backend.machine.read { store in Result { () throws(V3Error) in try store.auth.check(.read, key: key, rangeEnd: end, as: caller) } }
        } catch {
            outcome = .failure(error)
        }
        guard case .failure(let error) = outcome else { return nil }
        let rpc = V3Backend.rpcError(error)
        return "rpc error: code = \(GRPCMetrics.name(rpc.code)) desc = \(error.message)"
    }

    func handle(_ message: Etcdserverpb_WatchRequest) {
        switch message.requestUnion {
        case .createRequest(let create): self.create(create)
        case .cancelRequest(let cancel): self.cancel(cancel.watchID)
        case .progressRequest:
            let revision = backend.machine.read { $0.revision }
            var answer = Etcdserverpb_WatchResponse()
            answer.header = backend.header(revision: revision)
            answer.watchID = -1  // not for one watcher: clients broadcast it to all
            sink.yield(answer)
        case nil:
            break
        }
    }

    private func create(_ request: Etcdserverpb_WatchCreateRequest) {
        // An empty key is the smallest key, as in etcd.
        let key = request.key.isEmpty ? [UInt8(0)] : Array(request.key)
        if let reason = refusal(key: key, end: Array(request.rangeEnd)) {
            var refused = Etcdserverpb_WatchResponse()
            refused.header = backend.header(revision: backend.machine.read { $0.revision })
            refused.watchID = -1
            refused.created = true
            refused.canceled = true
            refused.cancelReason = reason
            sink.yield(refused)
            return
        }
        let id: Int64? = state.withLock { state in
            guard !state.ended else { return nil }
            var id = request.watchID
            if id == 0 {
                while state.tokens[state.nextID] != nil { state.nextID += 1 }
                id = state.nextID
                state.nextID += 1
            } else if state.tokens[id] != nil {
                return -1
            }
            state.tokens[id] = 0  // reserved until registered
            return id
        }
        guard let id else { return }
        if id == -1 {
            var refusal = Etcdserverpb_WatchResponse()
            refusal.header = backend.header(revision: backend.machine.read { $0.revision })
            refusal.watchID = -1
            refusal.created = true
            refusal.canceled = true
            refusal.cancelReason = "mvcc: duplicate watch ID provided"
            sink.yield(refusal)
            return
        }
        // A watch from "now" starts right after the revision its `created` reports, so no change
        // falls between the two.
        let currentRevision = backend.machine.read { $0.revision }
        let start = request.startRevision > 0 ? request.startRevision : currentRevision + 1
        let backend = self.backend, sink = self.sink
        let fragment = request.fragment
        if request.progressNotify { state.withLock { $0.idle[id] = true } }
        let watcher = WatcherSet.Watcher(
            key: key, end: Array(request.rangeEnd), noPut: request.filters.contains(.noput), noDelete: request.filters.contains(.nodelete),
            prevKV: request.prevKv, minRevision: start,
            send: { delivery in
                var answer = Etcdserverpb_WatchResponse()
                answer.watchID = id
                switch delivery {
                case .events(let events, let revision):
                    answer.header = backend.header(revision: revision)
                    answer.events = events.map(\.message)
                    let pieces = fragment ? Self.fragments(answer, limit: backend.maxRequestBytes) : [answer]
                    guard sink.offer(pieces) else { return false }
                    if request.progressNotify { self.state.withLock { if $0.idle[id] != nil { $0.idle[id] = false } } }
                    return true
                case .compacted(let compactRevision, let revision):
                    // The watcher is gone (set aside past a compaction): so is its ID here.
                    self.state.withLock { state in
                        state.tokens[id] = nil
                        state.idle[id] = nil
                    }
                    answer.header = backend.header(revision: revision)
                    answer.canceled = true
                    answer.compactRevision = compactRevision
                    answer.cancelReason = V3Error.compacted.message
                }
                sink.yield(answer)
                return true
            })
        // `created` first, with the revision the watcher starts after; then the replay and the
        // live events, which `watch` sends in order.
        var created = Etcdserverpb_WatchResponse()
        created.watchID = id
        created.created = true
        created.header = backend.header(revision: currentRevision)
        sink.yield(created)
        let (outcome, revision) = backend.machine.watch(watcher, from: start)
        switch outcome {
        case .started(let token):
            let keep = state.withLock { state -> Bool in
                guard !state.ended, state.tokens[id] != nil else { return false }
                state.tokens[id] = token
                return true
            }
            if !keep { backend.machine.unwatch(token) }
        case .compacted(let compactRevision):
            state.withLock { _ = $0.tokens.removeValue(forKey: id) }
            var canceled = Etcdserverpb_WatchResponse()
            canceled.header = backend.header(revision: revision)
            canceled.watchID = id
            canceled.canceled = true
            canceled.compactRevision = compactRevision
            canceled.cancelReason = V3Error.compacted.message
            sink.yield(canceled)
        }
    }

    /// Tells each watcher that asked for progress and was sent nothing since the last tick the
    /// revision the store is at: everything up to it has been sent.
    func notifyProgress() {
        let candidates = state.withLock { state -> [(id: Int64, token: UInt64)] in
            var due: [(id: Int64, token: UInt64)] = []
            for (id, isIdle) in state.idle where isIdle {
                if let token = state.tokens[id], token != 0 { due.append((id, token)) }
            }
            for id in state.idle.keys { state.idle[id] = true }
            return due.sorted { $0.id < $1.id }
        }
        guard !candidates.isEmpty else { return }
        // Only watchers that have been sent everything up to the revision reported.
        let (synced, revision) = backend.machine.syncedWatchers(candidates.map(\.token))
        let due = candidates.filter { synced.contains($0.token) }.map(\.id)
        guard !due.isEmpty else { return }
        let header = backend.header(revision: revision)
        for id in due {
            var notice = Etcdserverpb_WatchResponse()
            notice.header = header
            notice.watchID = id
            sink.yield(notice)
        }
    }

    /// etcd's fragmenting of a response larger than `limit` for a watcher that asked: pieces of
    /// as many events as fit (at least one each), all but the last marked `fragment`.
    static func fragments(_ response: Etcdserverpb_WatchResponse, limit: Int) -> [Etcdserverpb_WatchResponse] {
        guard response.events.count > 1, ((try? response.serializedBytes() as [UInt8])?.count ?? 0) >= limit else { return [response] }
        var empty = response
        empty.events = []
        let base = ((try? empty.serializedBytes() as [UInt8])?.count ?? 0) + 2
        var pieces: [Etcdserverpb_WatchResponse] = []
        var current = empty
        var size = base
        for event in response.events {
            // An event's bytes in the response: its own, a tag and a length.
            let eventSize = ((try? event.serializedBytes() as [UInt8])?.count ?? 0) + 6
            if !current.events.isEmpty && size + eventSize >= limit {
                current.fragment = true
                pieces.append(current)
                current = empty
                size = base
            }
            current.events.append(event)
            size += eventSize
        }
        current.fragment = false
        pieces.append(current)
        return pieces
    }

    private func cancel(_ id: Int64) {
        state.withLock { _ = $0.idle.removeValue(forKey: id) }
        guard let token = state.withLock({ $0.tokens.removeValue(forKey: id) }) else { return }
        backend.machine.unwatch(token)
        var answer = Etcdserverpb_WatchResponse()
        answer.header = backend.header(revision: backend.machine.read { $0.revision })
        answer.watchID = id
        answer.canceled = true
        sink.yield(answer)
    }

    /// This stream's registered watchers, by their tokens in the watcher set.
    var registeredTokens: Set<UInt64> {
        state.withLock { Set($0.tokens.values.filter { $0 != 0 }) }
    }

    /// The stream is over: every watcher goes.
    func end() {
        let tokens = state.withLock { state -> [UInt64] in
            state.ended = true
            defer { state.tokens = [:] }
            return Array(state.tokens.values)
        }
        for token in tokens where token != 0 { backend.machine.unwatch(token) }
    }
}

extension MVCCStore.Event {
    var message: Mvccpb_Event {
        var event = Mvccpb_Event()
        event.type = kind == .put ? .put : .delete
        event.kv = kv.message
        if let previous { event.prevKv = previous.message }
        return event
    }
}
