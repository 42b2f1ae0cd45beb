import BinaryCodec
import NIOCore
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
        let data = Self.snapshotPayload(
            v1: machine.snapshotData(), extensionData: configuration.stateMachine?.snapshotData(), members: Array(members.values),
            removed: removedMembers)
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
            let data = Self.snapshotPayload(v1: encodeV1(), extensionData: encodeExtension?(), members: members, removed: removed)
            try? await loop.submit { [weak self] in
                guard let self else { return }
                self.snapshotTask = nil
                // Only if nothing newer (say, a snapshot from the leader) was saved meanwhile.
                if index > self.lastSnapshotIndex { self.saveSnapshot(at: index, confState: confState, data: data) }
            }.get()
        }
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

    /// Replaces the store (and the member list derived from it) with a snapshot's.
    func restore(_ snapshot: Snapshot) {
        guard snapshot.metadata.index > 0, !snapshot.data.isEmpty else { return }
        do {
            let (v1, extensionData, table, removed) = try Self.splitSnapshot(snapshot.data)
            if let extensionData {
                try configuration.stateMachine?.restore(from: extensionData, at: snapshot.metadata.index)
            }
            try machine.restore(from: v1, at: snapshot.metadata.index)
            let store = machine.copyStore().store
            removedMembers = removed
            members = table.map { Dictionary($0.map { ($0.id, $0) }, uniquingKeysWith: { $1 }) } ?? Self.members(from: store.machines())
            lastSnapshotIndex = max(lastSnapshotIndex, snapshot.metadata.index)
            logger.info("restored the store from a snapshot", metadata: ["index": "\(snapshot.metadata.index)"])
        } catch {
            logger.critical("cannot read the store snapshot: stopping rather than serve a wrong store", metadata: ["error": "\(error)"])
            fatalError("\(error)")
        }
    }

    /// What a snapshot holds: the v1 store alone (as before the v3 store existed), or a
    /// container marked by a prefix no v1 store encoding starts with. Version 2 holds both
    /// stores; version 3 adds the member table, since a member added by peer URL has an ID its
    /// name does not give (before it, members were read back from `/_etcd/machines`).
    static let containerMagic: [UInt8] = Array("etcd-swift-snapshot/2\n".utf8)
    static let containerMagicV3: [UInt8] = Array("etcd-swift-snapshot/3\n".utf8)

    static func snapshotPayload(v1: [UInt8], extensionData: [UInt8]?, members: [Member], removed: Set<NodeID> = []) -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes = containerMagicV3
        writer.blob(v1)
        writer.u8(extensionData == nil ? 0 : 1)
        writer.blob(extensionData ?? [])
        writer.u32(UInt32(members.count))
        for member in members.sorted(by: { $0.id < $1.id }) { writer.blob(member.encoded) }
        writer.u32(UInt32(removed.count))
        for id in removed.sorted() { writer.u64(id) }
        return writer.bytes
    }

    static func splitSnapshot(_ data: [UInt8]) throws -> (v1: [UInt8], extensionData: [UInt8]?, members: [Member]?, removed: Set<NodeID>) {
        if data.starts(with: containerMagicV3) {
            var reader = ByteReader(data[containerMagicV3.count...])
            guard let v1 = reader.blob(), let hasExtension = reader.u8(), let extensionData = reader.blob(), let count = reader.u32()
            else { throw SnapshotFormatError() }
            var members: [Member] = []
            for _ in 0..<count {
                guard let bytes = reader.blob(), let member = Member(encoded: bytes) else { throw SnapshotFormatError() }
                members.append(member)
            }
            // Members removed, refused if they come back.
            guard let removedCount = reader.u32() else { throw SnapshotFormatError() }
            var removed = Set<NodeID>()
            for _ in 0..<removedCount {
                guard let id = reader.u64() else { throw SnapshotFormatError() }
                removed.insert(id)
            }
            guard reader.isAtEnd else { throw SnapshotFormatError() }
            return (v1, hasExtension == 1 ? extensionData : nil, members, removed)
        }
        guard data.starts(with: containerMagic) else { return (data, nil, nil, []) }
        var reader = ByteReader(data[containerMagic.count...])
        guard let v1 = reader.blob(), let extensionData = reader.blob(), reader.isAtEnd else {
            throw SnapshotFormatError()
        }
        return (v1, extensionData, nil, [])
    }

    struct SnapshotFormatError: Error, CustomStringConvertible {
        var description: String { "the snapshot's container is damaged" }
    }

    /// Members from `/_etcd/machines` entries, whose values are `raft=<peer URL>&etcd=<client URL>`.
    static func members(from machines: [(name: String, value: String)]) -> [NodeID: Member] {
        var result: [NodeID: Member] = [:]
        for (name, value) in machines {
            var fields: [Substring: Substring] = [:]
            for pair in value.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[parts[0]] = parts[1] }
            }
            guard let raft = fields["raft"], let etcd = fields["etcd"] else { continue }
            let member = Member(name: name, peerURL: String(raft), clientURL: String(etcd))
            result[member.id] = member
        }
        return result
    }
}

extension RaftServer {
    /// Sends a large snapshot to a follower on a connection of its own, in pieces, then the
    /// message itself; tells the core how it went, so a failed send is retried. A stream that
    /// makes no progress for `snapshotStallTimeout` is abandoned (and reported failed).
    func streamSnapshot(_ message: Message) {
        guard let url = members[message.to]?.peerURL, let snapshot = message.snapshot else {
            node.reportSnapshot(to: message.to, failed: true)
            return
        }
        let chunkSize = configuration.snapshotChunkSize
        var header = message
        header.snapshot?.data = []
        logger.info("sending a snapshot", metadata: ["to": "\(ClusterIdentity.hex(message.to))", "index": "\(snapshot.metadata.index)", "bytes": "\(snapshot.data.count)"])
        let follower = message.to
        snapshotStreams[follower] = Task { [transport, loop, logger] in
            var failed = false
            do {
                let channel = try await transport!.dial(url)
                defer { channel.close(promise: nil) }
                // Written with a deadline per piece: a peer that stops reading ends the stream.
                func write(_ frame: PeerFrame) async throws {
                    let stall = channel.eventLoop.scheduleTask(in: Self.snapshotStallTimeout) { channel.close(promise: nil) }
                    defer { stall.cancel() }
                    try await channel.writeAndFlush(ByteBuffer(bytes: frame.encoded()))
                }
                var offset = 0
                while offset < snapshot.data.count {
                    try Task.checkCancellation()
                    let end = min(offset + chunkSize, snapshot.data.count)
                    try await write(.snapshotChunk(Array(snapshot.data[offset..<end])))
                    offset = end
                }
                try await write(.snapshotDone(header))
            } catch {
                logger.warning("cannot send a snapshot", metadata: ["to": "\(ClusterIdentity.hex(follower))", "error": "\(error)"])
                failed = true
            }
            let outcome = failed  // a constant for the Raft loop's closure
            _ = try? await loop.submit { [weak self] in
                guard let self, !self.isStopping else { return }
                self.snapshotStreams[follower] = nil
                self.node.reportSnapshot(to: follower, failed: outcome)
                self.scheduleReady()
            }.get()
        }
    }

    /// How long a snapshot stream may wait to write one piece.
    static let snapshotStallTimeout = TimeAmount.seconds(10)
}
