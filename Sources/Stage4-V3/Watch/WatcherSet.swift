/// The watchers of one member, with what each wants: a key or range, and filters. Lives under
/// the state machine's lock next to the store, so that registering (with its replay) and
/// delivering never interleave.
struct WatcherSet: Sendable {
    /// What a watcher is sent.
    enum Delivery: Sendable {
        /// Changes at one revision, already filtered for it.
        case events([MVCCStore.Event], revision: Int64)
        /// The changes the watcher needs next were compacted away (after a snapshot install).
        case compacted(compactRevision: Int64, revision: Int64)
    }

    struct Watcher: Sendable {
        var key: [UInt8]
        var end: [UInt8]
        var noPut: Bool
        var noDelete: Bool
        var prevKV: Bool
        /// The first revision not yet sent: changes before it are not sent again (and a watch
        /// that starts in the future waits for it).
        var minRevision: Int64
        var send: @Sendable (Delivery) -> Void

        func wants(_ event: MVCCStore.Event) -> Bool {
            if event.kind == .put && noPut { return false }
            if event.kind == .delete && noDelete { return false }
            return MVCCStore.contains(key, end, event.kv.key)
        }

        func shaped(_ event: MVCCStore.Event) -> MVCCStore.Event {
            var event = event
            if !prevKV { event.previous = nil }
            return event
        }
    }

    private var watchers: [UInt64: Watcher] = [:]
    private var nextID: UInt64 = 1

    /// Registers a watcher; the returned token removes it.
    mutating func add(_ watcher: Watcher) -> UInt64 {
        let token = nextID
        nextID += 1
        watchers[token] = watcher
        return token
    }

    mutating func remove(_ token: UInt64) {
        watchers[token] = nil
    }

    /// Hands each watcher the events of one revision that concern it.
    mutating func deliver(_ events: [MVCCStore.Event], revision: Int64) {
        for (token, watcher) in watchers where revision >= watcher.minRevision {
            let wanted = events.filter(watcher.wants).map(watcher.shaped)
            if !wanted.isEmpty { watcher.send(.events(wanted, revision: revision)) }
            watchers[token]?.minRevision = revision + 1
        }
    }

    /// After the store was replaced by a snapshot (a member far behind): each watcher is sent
    /// what it has not seen yet from the new store's history, or, if that was compacted, told so.
    mutating func resync(with store: MVCCStore) {
        for (token, watcher) in watchers {
            if watcher.minRevision < store.compactRevision {
                watcher.send(.compacted(compactRevision: store.compactRevision, revision: store.revision))
                watchers[token] = nil
                continue
            }
            Self.sendHistory(to: watcher, from: store, after: watcher.minRevision - 1)
            watchers[token]?.minRevision = max(watcher.minRevision, store.revision + 1)
        }
    }

    /// Revisions per response when a watcher catches up on history (etcd's watchBatchMaxRevs).
    static let historyBatchRevisions = 1000

    /// Sends `watcher` the stored changes it wants after `revision`, as etcd sends a
    /// catching-up watcher its history: in batches of up to 1,000 revisions, each stamped with
    /// the store's current revision.
    static func sendHistory(to watcher: Watcher, from store: MVCCStore, after revision: Int64) {
        let history = store.changes(watcher.key, watcher.end, after: revision).filter(watcher.wants).map(watcher.shaped)
        var batch: [MVCCStore.Event] = []
        var revisions = 0
        for event in history {
            if batch.last?.kv.modRevision != event.kv.modRevision {
                if revisions == historyBatchRevisions {
                    watcher.send(.events(batch, revision: store.revision))
                    batch = []
                    revisions = 0
                }
                revisions += 1
            }
            batch.append(event)
        }
        if !batch.isEmpty { watcher.send(.events(batch, revision: store.revision)) }
    }
}
