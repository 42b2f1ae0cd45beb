import NIOCore
import RaftCore
import RaftDisk
import SingleNode

/// Snapshots on one member: taken every `snapshotCount` applied entries (and when a member
/// joins behind a compacted log), restored at start and when the leader sends one, streamed to
/// followers that need one and received from the leader, a piece at a time.
///
/// `@unchecked Sendable` for the same reason as `RaftServer`: confined to the Raft loop.
final class Snapshotter: @unchecked Sendable {
    unowned let server: RaftServer
    /// Snapshots arriving from a leader, frame by frame.
    let incoming: SnapshotReceiver
    // Snapshots being streamed to followers, one per follower.
    let outgoing: SnapshotStreams
    // The index of the newest snapshot saved or restored.
    private(set) var lastIndex: UInt64 = 0
    // The periodic snapshot being encoded off the loop, if one is.
    private(set) var encoding: Task<Void, Never>?
    private var lastReadError: String?
    private let snapshotCount: UInt64

    init(server: RaftServer, loop: any EventLoop, directory: String) {
        self.server = server
        self.snapshotCount = server.configuration.snapshotCount
        self.incoming = SnapshotReceiver(loop: loop, directory: directory, logger: server.logger)
        self.outgoing = SnapshotStreams(loop: loop, logger: server.logger)
    }

    private var configuration: RaftServerConfiguration { server.configuration }

    /// Whether `applied` entries call for the periodic snapshot.
    func isDue(applied: UInt64) -> Bool { applied >= lastIndex + snapshotCount }

    /// Takes a snapshot of the stores as of entry `index` (the last one applied) and compacts
    /// the log behind it, keeping `snapshotKeepEntries` for followers that lag a little. Here,
    /// on the Raft loop: for a new member behind a compacted log, which needs it at once.
    func take(at index: UInt64) {
        guard server.machine.appliedIndex == index, index > lastIndex else { return }
        let data = SnapshotContainer(
            v1: server.machine.snapshotData(), other: configuration.stateMachine?.snapshotData(),
            members: Array(server.membership.members.values), removed: server.membership.removed).encoded()
        save(at: index, confState: server.node.confState, data: data)
    }

    /// The periodic snapshot: the stores are copied here (cheap: they are copy-on-write), encoded
    /// on another thread while the loop goes on applying, and saved back on the loop. At most one
    /// at a time; one that finishes after a newer snapshot was saved or installed is dropped.
    func takeInBackground(at index: UInt64) {
        guard encoding == nil, !server.isStopping else { return }
        guard server.machine.appliedIndex == index, index > lastIndex else { return }
        let encodeV1 = server.machine.snapshotSource()
        let encodeOther = configuration.stateMachine?.snapshotSource()
        let (members, removed, confState) = (Array(server.membership.members.values), server.membership.removed, server.node.confState)
        // The task holds the server (as it held itself before this was a collaborator): one
        // released mid-encoding without `stop()` stays until the snapshot is saved.
        encoding = Task.detached { [server] in
            let data = SnapshotContainer(v1: encodeV1(), other: encodeOther?(), members: members, removed: removed).encoded()
            try? await server.loop.submit { [weak self] in
                guard let self else { return }
                self.encoding = nil
                // Only if nothing newer (say, a snapshot from the leader) was saved meanwhile.
                if index > self.lastIndex { self.save(at: index, confState: confState, data: data) }
            }.get()
        }
    }

    private func save(at index: UInt64, confState: ConfState, data: [UInt8]) {
        let storage = server.storage
        do {
            try RaftMetrics.time(RaftMetrics.backendCommit) { () throws(StorageError) in
                try storage.snapshot(at: index, confState: confState, data: data, keepEntries: configuration.snapshotKeepEntries)
            }
            lastIndex = index
            server.logger.info("saved snapshot", metadata: ["index": "\(index)", "wal-segments": "\(storage.walSegments.count)"])
        } catch {
            // Not fatal: the log still holds everything; the next attempt may succeed.
            server.logger.error("cannot save a snapshot", metadata: ["index": "\(index)", "error": "\(error)"])
        }
    }

    /// Replaces the stores (and the member table) with a snapshot's from the leader; a snapshot
    /// that cannot be read, or holds a machine this member does not run, stops the member.
    func restore(_ snapshot: Snapshot) {
        // Whatever it named is taken; every other received file is of a refused snapshot.
        defer { incoming.removeNamedFiles() }
        do {
            try restoreOrThrow(snapshot)
        } catch {
            server.logger.critical("cannot read the store snapshot: stopping rather than serve a wrong store", metadata: ["error": "\(error)"])
            fatalError("\(error)")
        }
    }

    /// `restore`, for the start, where a problem is an error to report rather than a crash.
    func restoreOrThrow(_ snapshot: Snapshot) throws {
        guard snapshot.metadata.index > 0, !snapshot.data.isEmpty else { return }
        let container = try SnapshotContainer(decoding: snapshot.data)
        if let other = container.other {
            // Dropping it would lose that machine's data at the next snapshot.
            guard let stateMachine = configuration.stateMachine else { throw MissingMachine() }
            try stateMachine.restore(from: other, at: snapshot.metadata.index)
        }
        let machine = server.machine
        try machine.restore(from: container.v1, at: snapshot.metadata.index)
        server.membership.removed = container.removed
        server.membership.members = container.members.map { Dictionary($0.map { ($0.id, $0) }, uniquingKeysWith: { $1 }) }
            ?? SnapshotContainer.members(from: machine.copyStore().store.machines())
        lastIndex = max(lastIndex, snapshot.metadata.index)
        server.logger.info("restored the store from a snapshot", metadata: ["index": "\(snapshot.metadata.index)"])
    }

    /// Sends a snapshot to a follower on a connection of its own (`SnapshotStreams`), unless one
    /// is on its way there already (the core asks again at every heartbeat that finds the
    /// follower behind), and tells the core how it went, so a failed send is retried.
    func stream(_ message: Message) {
        // A stop waits for the streams under way; none may start behind its back.
        guard !server.isStopping, !outgoing.isStreaming(to: message.to) else { return }
        guard let url = server.members[message.to]?.peerURL, let snapshot = message.snapshot else {
            server.node.reportSnapshot(to: message.to, failed: true)
            return
        }
        server.logger.info("sending a snapshot", metadata: ["to": "\(ClusterIdentity.hex(message.to))", "index": "\(snapshot.metadata.index)", "bytes": "\(snapshot.data.count)"])
        let sender = SnapshotSender(
            chunkSize: configuration.snapshotChunkSize, copyState: configuration.stateMachine?.transferSource(),
            spoolPath: SpooledState.newPath(in: server.stateDirectory, "sending"))
        let transport = server.transport!
        outgoing.start(message, to: url, with: sender, dial: { url in try await transport.dial(url, connectTimeout: .seconds(2)) }) {
            [weak self] follower, failed in
            guard let self, !self.server.isStopping else { return }
            self.server.node.reportSnapshot(to: follower, failed: failed)
            self.server.scheduleReady()
        }
    }

    /// After each pass of the loop: a failure to read the newest snapshot back for a follower
    /// is logged (once per distinct error: the core asks again at every heartbeat), and its
    /// bytes go once no stream needs them.
    func afterReady() {
        let storage = server.storage
        if let error = storage.takeSnapshotReadError(), error.description != lastReadError {
            lastReadError = error.description
            server.logger.error("cannot read the newest snapshot back to send it to a follower", metadata: ["error": "\(error)"])
        }
        if outgoing.isEmpty { storage.releaseSnapshotData() }
    }

    /// The work under way off the loop: a snapshot being encoded, snapshots streaming.
    func underway() -> [Task<Void, Never>] {
        let (encoding, streams) = inFlight()
        return [encoding].compactMap { $0 } + streams
    }

    /// What a stop waits for, apart: a snapshot being encoded (it finishes and is saved), and
    /// the streams to followers (cancelled).
    func inFlight() -> (encoding: Task<Void, Never>?, streams: [Task<Void, Never>]) {
        (encoding, outgoing.underway())
    }
}
