/// Moves committed pages from the file's write-ahead log into the file itself, off the writer's
/// path (SQLite's passive checkpoint: it never waits for, or holds up, the writer). Copied pages
/// are not enough to keep the -wal file small: the log starts over only with the writer's help
/// (`SQLiteBackend.logWantsRestart`), which `run`'s answer says when to ask for.
public final class Checkpointer: @unchecked Sendable {
    private let connection: SQLiteConnection
    private let checkpoint: SQLiteStatement

    /// Frames in the log from which the writer is asked to start it over: 16 MiB of 4 KiB
    /// pages, about a second of puts at full speed.
    public static let restartAfter = 4096

    public init(path: String) throws {
        connection = try SQLiteConnection(path: path)
        checkpoint = try connection.prepare("PRAGMA wal_checkpoint(PASSIVE)")
    }

    /// One pass: the frames the log holds and how many of them are copied now, or nil if the
    /// pass failed (it is retried at the next; the log keeps the pages meanwhile). Fewer copied
    /// than held: a reader holds an older commit, or a commit came in meanwhile.
    public func run() -> (frames: Int, copied: Int)? {
        defer { checkpoint.reset() }
        guard (try? checkpoint.step()) == true else { return nil }
        return (Int(checkpoint.int64(1)), Int(checkpoint.int64(2)))
    }
}
