import RaftCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a leader sends a follower too far behind for its log: the snapshot in pieces on a
/// connection of its own, so that a snapshot of any size never delays the messages of the
/// Raft connection, nor waits in memory whole on the follower's side.
///
/// In order: the second machine's state, if the machine keeps it apart from snapshots (Stage
/// 4's backend file: copied, then read from disk a piece at a time as `stateChunk` frames);
/// the snapshot's own data as `snapshotChunk` frames (its container naming the state by the
/// machine's note, the follower putting its own file's path there); then `snapshotDone` with
/// the message, its data emptied. The follower assembles and steps it as if it had come whole.
struct SnapshotSender {
    /// Bytes per frame.
    let chunkSize: Int
    /// Copies the machine's state into a file and returns the machine's note on the copy; nil
    /// for a machine whose state is inside the snapshot itself.
    let copyState: (@Sendable (_ path: String) throws -> [UInt8])?
    /// Where the copy goes while it is sent (removed after).
    let spoolPath: String

    /// Writes `message`'s snapshot through `write`, a frame at a time, each awaited (the caller
    /// puts its deadline on each). Throws what `write` or the copy throws, or on cancellation.
    func send(_ message: Message, write: (PeerFrame) async throws -> Void) async throws {
        guard var snapshot = message.snapshot else { return }
        var header = message
        header.snapshot?.data = []
        if let copyState {
            defer { unlink(spoolPath) }
            let note = try copyState(spoolPath)
            let file = try FileReader(path: spoolPath)
            while let piece = try file.read(upTo: chunkSize) {
                try Task.checkCancellation()
                try await write(.stateChunk(piece))
            }
            var container = try SnapshotContainer(decoding: snapshot.data)
            container.other = SpooledState.reference(to: "", note: note)  // the follower names its own file
            snapshot.data = container.encoded()
        }
        var offset = 0
        while offset < snapshot.data.count {
            try Task.checkCancellation()
            let end = min(offset + chunkSize, snapshot.data.count)
            try await write(.snapshotChunk(Array(snapshot.data[offset..<end])))
            offset = end
        }
        try await write(.snapshotDone(header))
    }
}
