/// The error numbers of the v1 API, with their exact texts.
///
/// The numbers and messages are the wire contract (clients match on them). They become HTTP
/// statuses only at the edge, in the HTTP layer.
public enum ErrorCode: Int, Sendable, Codable, CaseIterable {
    case keyNotFound = 100
    case testFailed = 101
    case notFile = 102
    case noMorePeer = 103
    case valueRequired = 200
    case prevValueRequired = 201
    case ttlNaN = 202
    case indexNaN = 203
    case invalidField = 209
    case invalidForm = 210
    case raftInternal = 300
    case leaderElect = 301
    case keywordPrefix = 400
    case eventIndexCleared = 401
    case watcherCleared = 500

    /// The fixed text the original server sent for this code.
    public var message: String {
        switch self {
        case .keyNotFound: "Key Not Found"
        case .testFailed: "The given PrevValue is not equal to the value of the key"
        case .notFile: "Not A File"
        case .noMorePeer: "Reached the max number of machines in the cluster"
        case .valueRequired: "Value is Required in POST form"
        case .prevValueRequired: "PrevValue is Required in POST form"
        case .ttlNaN: "The given TTL in POST form is not a number"
        case .indexNaN: "The given index in POST form is not a number"
        // 209, 210 and 401 come from the v2 API's table: v1 had no code for these inputs.
        case .invalidField: "Invalid field"
        case .invalidForm: "Invalid POST form"
        case .raftInternal: "Raft Internal Error"
        case .leaderElect: "During Leader Election"
        case .keywordPrefix: "The prefix of the given key is a keyword in etcd"
        case .eventIndexCleared: "The event in requested index is outdated and cleared"
        case .watcherCleared: "watcher is cleared due to etcd recovery"
        }
    }
}

/// A failed request: a stable code plus the detail (`cause`) the original put beside it.
public struct StoreError: Error, Hashable, Sendable, Codable {
    /// The error number.
    public var code: ErrorCode
    /// The detail, such as the key; empty means the wire omits it.
    public var cause: String

    /// Makes an error with a code and an optional cause.
    public init(_ code: ErrorCode, cause: String = "") {
        self.code = code
        self.cause = cause
    }
}
