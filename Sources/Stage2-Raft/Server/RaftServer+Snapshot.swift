import BinaryCodec
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftCore
import RaftDisk
import SingleNode

/// Snapshots of the v1 store: taken every `snapshotCount` applied entries (and when a member
/// joins behind a compacted log), restored at start and when the leader sends one.
extension RaftServer {
    /// Takes a snapshot of the store as of entry `index` (the last one applied) and compacts
    /// the log behind it, keeping `snapshotKeepEntries` for followers that lag a little. Here,
    /// on the Raft loop: for a new member behind a compacted log, which needs it at once.
    func takeSnapshot(at index: UInt64) {
        guard machine.appliedIndex == index, index > lastSnapshotIndex else { return }
        let data = SnapshotContainer(
            v1: machine.snapshotData(), other: configuration.stateMachine?.snapshotData(), members: Array(members.values),
            removed: removedMembers).encoded()
        saveSnapshot(at: index, confState: node.confState, data: data)
    }

    /// The periodic snapshot: the stores are copied here (cheap: they are copy-on-write), encoded
    /// on another thread while the loop goes on applying, and saved back on the loop. At most one
    /// at a time; one that finishes after a newer snapshot was saved or installed is dropped.
    func takeSnapshotInBackground(at index: UInt64) {
        guard snapshotTask == nil, !isStopping else { return }
        guard machine.appliedIndex == index, index > lastSnapshotIndex else { return }
        let encodeV1 = machine.snapshotSource()
        let encodeExtension = configuration.stateMachine?.snapshotSource()
        let (members, removed, confState) = (Array(self.members.values), removedMembers, node.confState)
        snapshotTask = Task.detached { [loop] in
            let data = SnapshotContainer(v1: encodeV1(), other: encodeExtension?(), members: members, removed: removed).encoded()
            try? await loop.submit { [weak self] in
                guard let self else { return }
                self.snapshotTask = nil
                // Only if nothing newer (say, a snapshot from the leader) was saved meanwhile.
                if index > self.lastSnapshotIndex { self.saveSnapshot(at: index, confState: confState, data: data) }
            }.get()
        }
    }

    /// The work under way off the loop: a snapshot being encoded, snapshots streaming to
    /// followers. A test on a manual clock waits for it before moving the clock, so that work
    /// off the loop takes none of the clock's time (as if the machine were infinitely fast).
    func backgroundWork() async -> [Task<Void, Never>] {
        (try? await loop.submit { [self.snapshotTask].compactMap { $0 } + self.outgoingSnapshots.underway() }.get()) ?? []
    }

    private func saveSnapshot(at index: UInt64, confState: ConfState, data: [UInt8]) {
        do {
            try RaftMetrics.time(RaftMetrics.backendCommit) { () throws(StorageError) in
                try storage.snapshot(at: index, confState: confState, data: data, keepEntries: configuration.snapshotKeepEntries)
            }
            lastSnapshotIndex = index
            logger.info("saved snapshot", metadata: ["index": "\(index)", "wal-segments": "\(storage.walSegments.count)"])
        } catch {
            // Not fatal: the log still holds everything; the next attempt may succeed.
            logger.error("cannot save a snapshot", metadata: ["index": "\(index)", "error": "\(error)"])
        }
    }

    /// Replaces the store (and the member list derived from it) with a snapshot's; a snapshot
    /// that cannot be read, or holds a machine this member does not run, stops the member.
    func restore(_ snapshot: Snapshot) {
        // Whatever it named is taken; every other received file is of a refused snapshot.
        defer { incomingSnapshots.removeNamedFiles() }
        do {
            try restoreOrThrow(snapshot)
        } catch {
            logger.critical("cannot read the store snapshot: stopping rather than serve a wrong store", metadata: ["error": "\(error)"])
            fatalError("\(error)")
        }
    }

    /// `restore`, for the start, where a problem is an error to report rather than a crash.
    func restoreOrThrow(_ snapshot: Snapshot) throws {
        guard snapshot.metadata.index > 0, !snapshot.data.isEmpty else { return }
        do {
            let container = try SnapshotContainer(decoding: snapshot.data)
            if let other = container.other {
                // Dropping it would lose that machine's data at the next snapshot.
                guard let stateMachine = configuration.stateMachine else { throw Self.missingMachine }
                try stateMachine.restore(from: other, at: snapshot.metadata.index)
            }
            try machine.restore(from: container.v1, at: snapshot.metadata.index)
            let (table, removed) = (container.members, container.removed)
            removedMembers = removed
            members = table.map { Dictionary($0.map { ($0.id, $0) }, uniquingKeysWith: { $1 }) } ?? SnapshotContainer.members(from: machine.copyStore().store.machines())
            lastSnapshotIndex = max(lastSnapshotIndex, snapshot.metadata.index)
            logger.info("restored the store from a snapshot", metadata: ["index": "\(snapshot.metadata.index)"])
        }
    }

    /// A snapshot or an entry for a machine this build does not run: the v3 store's, read by
    /// `etcd-stage2` or `etcd-stage3` on a data directory the full etcd wrote.
    static let missingMachine = MissingMachine()

    public struct MissingMachine: Error, CustomStringConvertible {
        public var description: String {
            "this data directory holds the v3 store, which this binary does not run: start the full etcd on it (a stage binary would drop the v3 data at its next snapshot)"
        }
    }
}

extension RaftServer {
    /// Sends a large snapshot to a follower on a connection of its own (`SnapshotStreams`), and
    /// tells the core how it went, so a failed send is retried.
    func streamSnapshot(_ message: Message) {
        // A stop waits for the streams under way; none may start behind its back.
        guard !isStopping else { return }
        guard let url = members[message.to]?.peerURL, let snapshot = message.snapshot else {
            node.reportSnapshot(to: message.to, failed: true)
            return
        }
        logger.info("sending a snapshot", metadata: ["to": "\(ClusterIdentity.hex(message.to))", "index": "\(snapshot.metadata.index)", "bytes": "\(snapshot.data.count)"])
        let sender = SnapshotSender(
            chunkSize: configuration.snapshotChunkSize, copyState: configuration.stateMachine?.transferSource(),
            spoolPath: SpooledState.newPath(in: stateDirectory, "sending"))
        outgoingSnapshots.start(message, to: url, with: sender, dial: { [transport] url in try await transport!.dial(url, connectTimeout: .seconds(2)) }) {
            [weak self] follower, failed in
            guard let self, !self.isStopping else { return }
            self.node.reportSnapshot(to: follower, failed: failed)
            self.scheduleReady()
        }
    }
}
