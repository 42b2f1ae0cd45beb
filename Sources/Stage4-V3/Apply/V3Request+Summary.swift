// The v3 requests in a few words, for the live view of each member's log (`/debug/raft`).

extension V3StateMachine {
    /// `v3 put k`, `v3 txn (2 compares, 1 op)`, `v3 lease grant 7587…`, `v3 compact 42`.
    public static func summarize(_ request: V3Request) -> String { "v3 " + request.summary }
}

extension V3Request {
    var summary: String {
        switch self {
        case .put(let put): "put \(Self.printable(put.key))"
        case .deleteRange(let delete):
            delete.rangeEnd.isEmpty ? "delete \(Self.printable(delete.key))" : "delete range from \(Self.printable(delete.key))"
        case .txn(let txn): "txn (\(txn.compare.count) compares, \(txn.success.count)/\(txn.failure.count) ops)"
        case .compact(let compact): "compact \(compact.revision)"
        case .leaseGrant(let grant): "lease grant \(String(UInt64(bitPattern: grant.id), radix: 16)) ttl \(grant.ttl)s"
        case .leaseRevoke(let revoke): "lease revoke \(String(UInt64(bitPattern: revoke.id), radix: 16))"
        case .leaseRenew(let renew): "lease keep-alive \(String(UInt64(bitPattern: renew.id), radix: 16))"
        case .alarm(let alarm): "alarm \(alarm.action) \(alarm.alarm)"
        case .auth(let auth): "auth \(String(describing: auth).prefix { $0 != "(" })"
        case .asUser(let user, let request): "\(request.summary) as \(user.user)"
        }
    }

    // Keys are bytes: shown as text when they are, cut short when long.
    private static func printable(_ key: some Collection<UInt8>) -> String {
        let text = String(decoding: key, as: UTF8.self)
        let shown = text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) ? text : "0x" + key.prefix(16).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        return shown.count > 40 ? String(shown.prefix(40)) + "…" : shown
    }
}
