/// The watchers of one member, with what each wants: a key or range, and filters. Lives under
/// the state machine's lock next to the store, so that registering (with its replay) and
/// delivering never interleave.
///
/// A watcher whose client reads slower than changes come is not buffered without end: when
/// its stream's outbox is full, `send` refuses, and the watcher is set aside ("blocked", etcd's
/// victims) at the first revision it has not received. Once the outbox drains, it catches up
/// from the store's history, as a watcher from a past revision does, and then goes live again;
/// if that history was compacted meanwhile, it is cancelled with the compact revision, as etcd
/// cancels it. Nothing is skipped or sent twice.
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
        /// Hands a delivery to the client's stream; false if its outbox is full (nothing sent).
        var send: @Sendable (Delivery) -> Bool
        /// Set aside until its outbox drains: live changes are not offered to it meanwhile.
        var isBlocked = false

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

    /// How registering a watcher went.
    enum Start {
        /// Registered; `token` removes it. Changes from the start revision on were already sent.
        case started(token: UInt64)
        /// The start revision was compacted away; the watcher was not registered.
        case compacted(compactRevision: Int64)
    }

    /// Registers `watcher` from `startRevision` (0: from the next change) on `store` as it is
    /// now: first replays the stored changes from there, then it gets each new one. The caller
    /// holds the lock writes take, so no change falls between the replay and the registration.
    mutating func register(_ watcher: Watcher, from startRevision: Int64, in store: MVCCStore) -> (Start, revision: Int64) {
        let revision = store.revision
        if startRevision > 0 && startRevision < store.compactRevision {
            return (.compacted(compactRevision: store.compactRevision), revision)
        }
        var registered = watcher
        if startRevision > 0 && startRevision <= store.revision,
            let stuck = Self.sendHistory(to: watcher, from: store, after: startRevision - 1)
        {
            // Its outbox filled up during the replay: the rest comes once it drains.
            registered.minRevision = stuck
            registered.isBlocked = true
        } else {
            // Everything up to the current revision has been sent.
            registered.minRevision = max(watcher.minRevision, revision + 1)
        }
        return (.started(token: add(registered)), revision)
    }

    /// Registers a watcher; the returned token removes it.
    mutating func add(_ watcher: Watcher) -> UInt64 {
        let token = nextID
        nextID += 1
        watchers[token] = watcher
        if watcher.isBlocked { blockedCount += 1 }
        if watcher.prevKV { prevKVCount += 1 }
        return token
    }

    /// Registered and not set aside.
    func isSynced(_ token: UInt64) -> Bool { watchers[token].map { !$0.isBlocked } ?? false }

    mutating func remove(_ token: UInt64) {
        guard let removed = watchers.removeValue(forKey: token) else { return }
        if removed.isBlocked { blockedCount -= 1 }
        if removed.prevKV { prevKVCount -= 1 }
    }

    /// How many watchers are set aside, waiting for their outbox to drain.
    private(set) var blockedCount = 0
    private var prevKVCount = 0
    /// Whether any watcher asked for each change's previous value (prev_kv): only then must a
    /// put read the value it replaces (see `MVCCStore.eventsCarryPrevious`).
    var wantsPrevious: Bool { prevKVCount > 0 }

    /// Hands each watcher the events of one revision that concern it.
    mutating func deliver(_ events: [MVCCStore.Event], revision: Int64) {
        for (token, watcher) in watchers where revision >= watcher.minRevision && !watcher.isBlocked {
            let wanted = events.filter(watcher.wants).map(watcher.shaped)
            if !wanted.isEmpty && !watcher.send(.events(wanted, revision: revision)) {
                // Its minRevision stays here: these events come again from history.
                watchers[token]?.isBlocked = true
                blockedCount += 1
                continue
            }
            watchers[token]?.minRevision = revision + 1
        }
    }

    /// Offers each blocked watcher what it missed, from `store`'s history; those whose outbox
    /// takes all of it go live again.
    mutating func retryBlocked(_ tokens: Set<UInt64>, with store: MVCCStore) {
        guard blockedCount > 0 else { return }
        for token in tokens {
            guard let watcher = watchers[token], watcher.isBlocked else { continue }
            if watcher.minRevision < store.compactRevision {
                _ = watcher.send(.compacted(compactRevision: store.compactRevision, revision: store.revision))
                remove(token)
                continue
            }
            if let stuck = Self.sendHistory(to: watcher, from: store, after: watcher.minRevision - 1) {
                watchers[token]?.minRevision = stuck
                continue
            }
            watchers[token]?.minRevision = max(watcher.minRevision, store.revision + 1)
            watchers[token]?.isBlocked = false
            blockedCount -= 1
        }
    }

    /// After the store was replaced by a snapshot (a member far behind): each watcher is sent
    /// what it has not seen yet from the new store's history, or, if that was compacted, told so.
    mutating func resync(with store: MVCCStore) {
        for (token, watcher) in watchers {
            if watcher.minRevision < store.compactRevision {
                _ = watcher.send(.compacted(compactRevision: store.compactRevision, revision: store.revision))
                remove(token)
                continue
            }
            if watcher.isBlocked { continue }  // it catches up when its outbox drains
            if let stuck = Self.sendHistory(to: watcher, from: store, after: watcher.minRevision - 1) {
                watchers[token]?.minRevision = stuck
                watchers[token]?.isBlocked = true
                blockedCount += 1
                continue
            }
            watchers[token]?.minRevision = max(watcher.minRevision, store.revision + 1)
        }
    }

    /// Revisions per response when a watcher catches up on history (etcd's watchBatchMaxRevs).
    static let historyBatchRevisions = 1000

    /// Sends `watcher` the stored changes it wants after `revision`, as etcd sends a
    /// catching-up watcher its history: in batches of up to 1,000 revisions, each stamped with
    /// the store's current revision. Returns nil once all is sent, or the first revision of
    /// the batch its outbox refused (nothing from there on was sent).
    static func sendHistory(to watcher: Watcher, from store: MVCCStore, after revision: Int64) -> Int64? {
        let history = store.changes(watcher.key, watcher.end, after: revision).filter(watcher.wants).map(watcher.shaped)
        var batch: [MVCCStore.Event] = []
        var revisions = 0
        for event in history {
            if batch.last?.kv.modRevision != event.kv.modRevision {
                if revisions == historyBatchRevisions {
                    guard watcher.send(.events(batch, revision: store.revision)) else { return batch[0].kv.modRevision }
                    batch = []
                    revisions = 0
                }
                revisions += 1
            }
            batch.append(event)
        }
        if !batch.isEmpty && !watcher.send(.events(batch, revision: store.revision)) { return batch[0].kv.modRevision }
        return nil
    }
}
