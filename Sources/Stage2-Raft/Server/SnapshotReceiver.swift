import Logging
import NIOCore
import RaftCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Snapshots arriving from a leader, frame by frame, one per connection: the counterpart of
/// `SnapshotSender`. The snapshot's own bytes are gathered in memory; a machine's state sent
/// apart (Stage 4's backend file) is written to a file as it comes (`ReceivedState`). When the
/// last frame, the message, arrives, the whole snapshot is handed on: at once, or, with a state
/// apart, once that file is synced, the snapshot naming the file in the state's place. A
/// connection that ends first leaves nothing behind.
///
/// `@unchecked Sendable` for the same reason as `RaftServer`: confined to the Raft loop, as the
/// server that owns it. Every method runs there, and so does every hand-over.
final class SnapshotReceiver: @unchecked Sendable {
    /// One peer connection: who sends, and when it ends.
    struct Connection {
        let id: ObjectIdentifier
        let closed: EventLoopFuture<Void>
    }

    private let loop: any EventLoop
    private let directory: String
    private let logger: Logger
    private var parts: [ObjectIdentifier: [UInt8]] = [:]
    private var spools: [ObjectIdentifier: ReceivedState] = [:]
    /// Files of received states that snapshots handed on name. Once one of those snapshots is
    /// restored, the others' files (the core refused them, or a newer one replaced them) go.
    private(set) var namedFiles: Set<String> = []

    /// Received states go into `directory` (the snapshots' own, so whatever discards the
    /// snapshots discards them too).
    init(loop: any EventLoop, directory: String, logger: Logger) {
        self.loop = loop
        self.directory = directory
        self.logger = logger
    }

    /// A piece of the snapshot's own bytes.
    func snapshotPiece(_ bytes: [UInt8], on connection: Connection) {
        if parts[connection.id] == nil {
            // Forgotten if the connection ends before the snapshot does.
            let id = connection.id
            connection.closed.whenComplete { [weak self] _ in self?.loop.execute { [weak self] in self?.parts[id] = nil } }
        }
        parts[connection.id, default: []] += bytes
    }

    /// A piece of a machine's state sent apart, before the snapshot's own bytes.
    func statePiece(_ bytes: [UInt8], on connection: Connection) {
        if spools[connection.id] == nil {
            spools[connection.id] = ReceivedState(path: SpooledState.newPath(in: directory, "received"))
            // Its file is removed if the connection ends before the snapshot does.
            let id = connection.id
            connection.closed.whenComplete { [weak self] _ in
                self?.loop.execute { [weak self] in self?.spools.removeValue(forKey: id)?.discard() }
            }
        }
        spools[connection.id]?.append(bytes)
    }

    /// The last frame: the snapshot's message, without its data. Hands the message and the
    /// snapshot's data to `deliver` on the Raft loop once whole, unless `drop` (the lab cut the
    /// two members apart: lost on the way, as messages are). Returns whether a snapshot was
    /// being received on `connection`.
    @discardableResult
    func finish(_ message: Message, on connection: Connection, drop: Bool, deliver: @escaping @Sendable (Message, [UInt8]) -> Void) -> Bool {
        guard let data = parts.removeValue(forKey: connection.id), message.snapshot != nil else { return false }
        let spool = spools.removeValue(forKey: connection.id)
        if drop {
            spool?.discard()
            return true
        }
        guard let container = try? SnapshotContainer(decoding: data), let reference = container.other.flatMap(SpooledState.parse) else {
            spool?.discard()
            deliver(message, data)
            return true
        }
        // The state came apart: once its file is synced, the snapshot names that file in its
        // place. A state that did not arrive whole refuses the snapshot (the leader finds the
        // follower still behind and sends another).
        guard let spool else {
            logger.error("a snapshot arrived without the state it refers to: refused")
            return true
        }
        spool.finish { [weak self] failure in
            self?.loop.execute { [weak self] in
                guard let self else { return }
                if let failure {
                    self.logger.error("cannot take a received snapshot: \(failure)")
                    return
                }
                var named = container
                named.other = SpooledState.reference(to: spool.path, note: reference.note)
                self.namedFiles.insert(spool.path)
                deliver(message, named.encoded())
            }
        }
        return true
    }

    /// A snapshot was restored (or refused): it took whatever file it named, and no other named
    /// file will be needed.
    func removeNamedFiles() {
        for path in namedFiles { unlink(path) }
        namedFiles = []
    }
}
