/// One v1 response object, the unit of every answer and every watch event.
///
/// Field order and omission rules are the original's (`store.Response` in v0.1.x):
/// `action, key, dir, prevValue, value, newKey, expiration, ttl, index`, where everything but
/// `action`, `key` and `index` is omitted when empty. `ttl` is derived from `expiration` when the
/// response is rendered, because it is relative to the moment the client reads it.
public struct V1Response: Hashable, Sendable, Codable {
    /// What happened; the original's actions are uppercase.
    public enum Action: String, Hashable, Sendable, Codable {
        case get = "GET"
        case set = "SET"
        case delete = "DELETE"
    }

    /// What happened.
    public var action: Action
    /// The clean key, with its leading slash.
    public var key: String
    /// Whether the key is a directory (only in listings).
    public var isDirectory: Bool = false
    /// The value before a set or delete; empty when there was none.
    public var prevValue: String = ""
    /// The value; empty for deletes and directories.
    public var value: String = ""
    /// Whether a set created the key.
    public var isNewKey: Bool = false
    /// When the key expires; nil for permanent keys.
    public var expiration: Timestamp?
    /// The log index of the write, or the store's index for reads.
    public var index: UInt64

    /// Makes a response.
    public init(
        action: Action, key: String, isDirectory: Bool = false, prevValue: String = "", value: String = "",
        isNewKey: Bool = false, expiration: Timestamp? = nil, index: UInt64
    ) {
        self.action = action
        self.key = key
        self.isDirectory = isDirectory
        self.prevValue = prevValue
        self.value = value
        self.isNewKey = isNewKey
        self.expiration = expiration
        self.index = index
    }
}

/// The answer to a read: one file, or the immediate children of a directory sorted by key.
public enum ReadResult: Hashable, Sendable {
    /// A file's value.
    case file(V1Response)
    /// A directory's children; always an array, even with one child or none.
    case directory([V1Response])
}
