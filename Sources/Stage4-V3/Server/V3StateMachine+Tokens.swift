import Foundation

/// Login tokens: who a call comes from, by its token or its verified certificate.
extension V3StateMachine {
    /// `--auth-token jwt,…`: logins get signed tokens (see `JWTTokens`).
    public func useJWT(_ tokens: JWTTokens) {
        state.withLock { $0.jwt = tokens }
    }

    /// `--auth-token-ttl`: how long a login token lives unused.
    public func setTokenTTL(_ ttl: Duration) {
        state.withLock { $0.tokens.ttl = ttl }
    }

    /// Who a call comes from: the user its token belongs to, else (with `--client-cert-auth`)
    /// its certificate's Common Name, else nobody (nil). A token this member does not know (or
    /// that expired) is refused, as etcd refuses it, even with auth off.
    public func identify(token: String?, commonName: String?) throws(V3Error) -> AuthInfo? {
        // No credentials (the common case, auth off): nothing to look up under the lock.
        if token == nil && commonName == nil { return nil }
        let instant = now()
        return try state.withLock { state throws(V3Error) -> AuthInfo? in
            if let token, let jwt = state.jwt {
                // The revision is the token's: one issued before a change to users or roles is stale.
                guard let info = jwt.verify(token, now: Date()) else { throw V3Error.invalidAuthToken }
                return info
            }
            if let token {
                guard let user = state.tokens.user(for: token, now: instant) else { throw V3Error.invalidAuthToken }
                return AuthInfo(user: user, revision: state.store.auth.revision)
            }
            return commonName.map { AuthInfo(user: $0, revision: state.store.auth.revision) }
        }
    }
}
