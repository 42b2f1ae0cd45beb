/// etcd's "simple" tokens (`--auth-token simple`): random strings this member maps to a user
/// name. Each member keeps its own table: a login goes through the log, so every member learns
/// the token and its user, and each then times it out by its own clock. A token not used for
/// `ttl` (`--auth-token-ttl`, 300 s) expires; each use restarts its time. They are not saved:
/// after a restart, clients log in again (clientv3 does so by itself on "invalid auth token").
struct SimpleTokens: Sendable {
    /// The letters etcd draws its 16-character token prefixes from.
    static let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    var ttl: Duration
    private var tokens: [String: (user: String, expires: ContinuousClock.Instant)] = [:]

    init(ttl: Duration) { self.ttl = ttl }

    /// A new random prefix, which the login's log index makes unique: "<16 letters>.<index>".
    static func newPrefix() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(decoding: (0..<16).map { _ in letters.randomElement(using: &generator)! }, as: UTF8.self)
    }

    mutating func assign(_ token: String, to user: String, now: ContinuousClock.Instant) {
        removeExpired(now: now)
        tokens[token] = (user, now + ttl)
    }

    /// The user a live token belongs to, restarting its time; nil if unknown or expired.
    mutating func user(for token: String, now: ContinuousClock.Instant) -> String? {
        guard let entry = tokens[token] else { return nil }
        guard entry.expires > now else {
            tokens[token] = nil
            return nil
        }
        tokens[token] = (entry.user, now + ttl)
        return entry.user
    }

    /// A user deleted, or its password changed: its tokens stop working at once.
    mutating func invalidate(user: String) {
        tokens = tokens.filter { $0.value.user != user }
    }

    mutating func removeAll() { tokens = [:] }

    mutating func removeExpired(now: ContinuousClock.Instant) {
        tokens = tokens.filter { $0.value.expires > now }
    }

    var count: Int { tokens.count }
}
