/// A file of the keys tree: a value and an optional absolute expiration.
struct FileNode: Hashable, Sendable, Codable {
    var value: String
    var expiration: Timestamp?
}

/// Counters the original served at `/stats`: operations attempted, by kind.
public struct StoreStats: Hashable, Sendable, Codable {
    /// Reads of a key or directory.
    public var gets: UInt64 = 0
    /// Sets (including creation of machine entries).
    public var sets: UInt64 = 0
    /// Deletes (including sets with a TTL of zero or less, and expirations).
    public var deletes: UInt64 = 0
    /// Test-and-sets.
    public var testAndSets: UInt64 = 0

    /// Makes zeroed counters.
    public init() {}
}
