/// A change to the keys store, as it travels through the log.
///
/// Every command carries `time`: the instant its single authority (this node in Stage 1, the
/// Raft leader later) issued it. Applying a command reads no clock, so every replica that
/// applies the same commands in the same order holds the same store.
public struct Command: Hashable, Sendable, Codable {
    /// What the command does.
    public enum Kind: Hashable, Sendable, Codable {
        /// Set a file's value; `expiration` nil makes it permanent. An expiration at or before
        /// `time` (a TTL of zero or less) makes the set act as a delete, as in the original.
        case set(key: String, value: String, expiration: Timestamp?)
        /// Set only if the current value equals `prevValue`; an empty `prevValue` means
        /// "create only if absent" (v0.1.2).
        case testAndSet(key: String, prevValue: String, value: String, expiration: Timestamp?)
        /// Delete a file (never a directory).
        case delete(key: String)
        /// Remove a file whose TTL ran out. Decided by the authority and replicated, so replicas
        /// never disagree about expiry; it does nothing if the key was re-set meanwhile, which
        /// `expiration` identifies.
        case expire(key: String, expiration: Timestamp)
        /// Record a machine in `/_etcd/machines/<name>`; an existing name is a rejoin and changes nothing.
        case join(name: String, raftURL: String, etcdURL: String)
        /// Record a machine's URLs, replacing what was there: a member of a cluster founded
        /// from a list of peer URLs announces its client URL this way once a leader exists.
        case publish(name: String, raftURL: String, etcdURL: String)
        /// Forget a machine removed from the cluster: deletes `/_etcd/machines/<name>`.
        case leave(name: String)
        /// No change; it only consumes an index (a new leader's first entry).
        case nop
    }

    /// What the command does.
    public var kind: Kind
    /// When the authority issued it.
    public var time: Timestamp

    /// Makes a command issued at `time`.
    public init(_ kind: Kind, time: Timestamp) {
        self.kind = kind
        self.time = time
    }
}
