import Logging
import NIOCore
import RaftCore

/// Snapshots being streamed to followers, at most one per follower: each on a connection of
/// its own, in the pieces a `SnapshotSender` makes, then the message itself. A stream whose
/// next piece cannot be written for `stallTimeout` is abandoned (a follower that stopped
/// reading). When a stream ends, `finished` hears on the Raft loop whether it failed, so the
/// core can send again.
///
/// `@unchecked Sendable` for the same reason as `RaftServer`: its table is touched only on the
/// Raft loop; the streams themselves run as tasks and come back to the loop to end.
final class SnapshotStreams: @unchecked Sendable {
    /// Opens a connection to a peer URL.
    typealias Dial = @Sendable (String) async throws -> any PeerConnection

    private let loop: any EventLoop
    private let logger: Logger
    private let stallTimeout: TimeAmount
    private var streams: [NodeID: Task<Void, Never>] = [:]

    init(loop: any EventLoop, logger: Logger, stallTimeout: TimeAmount = .seconds(10)) {
        self.loop = loop
        self.logger = logger
        self.stallTimeout = stallTimeout
    }

    /// Whether no stream is under way (then the snapshot's bytes read back to send need not be kept).
    var isEmpty: Bool { streams.isEmpty }

    /// Whether a stream to `follower` is under way: the core asks again at every heartbeat
    /// while the follower is behind, and one stream at a time is enough.
    func isStreaming(to follower: NodeID) -> Bool { streams[follower] != nil }

    /// Streams `message` (a snapshot for `message.to`) to `url` through `sender`, on a
    /// connection `dial` opens; then, on the Raft loop, `finished(follower, failed)`.
    func start(
        _ message: Message, to url: String, with sender: SnapshotSender, dial: @escaping Dial,
        finished: @escaping @Sendable (_ follower: NodeID, _ failed: Bool) -> Void
    ) {
        let follower = message.to
        streams[follower] = Task { [loop, logger, stallTimeout] in
            var failed = false
            do {
                let connection = try await dial(url)
                defer { connection.close() }
                // A deadline per piece: a peer that stops reading ends the stream.
                try await sender.send(message) { frame in
                    let stall = loop.scheduleTask(in: stallTimeout) { connection.close() }
                    defer { stall.cancel() }
                    try await connection.write(frame)
                }
            } catch {
                logger.warning("cannot send a snapshot", metadata: ["to": "\(ClusterIdentity.hex(follower))", "error": "\(error)"])
                failed = true
            }
            let outcome = failed  // a constant for the Raft loop's closure
            _ = try? await loop.submit { [weak self] in
                self?.streams[follower] = nil
                finished(follower, outcome)
            }.get()
        }
    }

    /// The streams under way, for a stop to cancel and wait for off the loop (each comes back
    /// to the loop once to end).
    func underway() -> [Task<Void, Never>] { Array(streams.values) }
}
