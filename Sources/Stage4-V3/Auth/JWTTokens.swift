import Foundation
import JWTKit
import SingleNode

/// etcd's JWT tokens (`--auth-token jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…`): a login
/// gets a token signed with the member's private key that names the user and the auth revision
/// it was issued at, and expires after `ttl`. Stateless: any member holding the public key
/// verifies it, none keeps a table, and a change to users or roles makes older tokens stale
/// ("revision of auth store is old", after which clients log in again).
///
/// jwt-kit does the keys, the signing algorithms and the token's parsing; this type only
/// composes them synchronously, because a call's identity is found on an event loop.
public struct JWTTokens: Sendable {
    /// The flag's options, as etcd 3.4 reads them.
    public struct Options: Sendable, Equatable {
        public var signMethod: String
        public var publicKey: String?
        public var privateKey: String?
        public var ttl: Duration = .seconds(300)
    }

    /// The claims etcd's tokens carry.
    struct Claims: JWTPayload {
        var username: String
        var revision: UInt64
        var exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) async throws { try exp.verifyNotExpired() }
    }

    public struct ConfigurationError: Error, CustomStringConvertible {
        public var description: String
    }

    let algorithm: any JWTAlgorithm
    let canSign: Bool
    let ttl: Duration

    public static let signMethods = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]

    /// Reads `jwt,pub-key=path,priv-key=path,sign-method=RS256,ttl=5m`.
    public static func options(_ flag: String) throws -> Options {
        var parts = flag.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.first == "jwt" else { throw ConfigurationError(description: "--auth-token \(flag): expected simple or jwt,…") }
        parts.removeFirst()
        var values: [String: String] = [:]
        for part in parts {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, ["pub-key", "priv-key", "sign-method", "ttl"].contains(pair[0]) else {
                throw ConfigurationError(description: "--auth-token: unknown jwt option \"\(part)\" (expected pub-key, priv-key, sign-method, ttl)")
            }
            values[pair[0]] = pair[1]
        }
        guard let method = values["sign-method"], signMethods.contains(method) else {
            throw ConfigurationError(description: "--auth-token jwt: sign-method must be one of \(signMethods.joined(separator: ", "))")
        }
        guard values["pub-key"] != nil || values["priv-key"] != nil else {
            throw ConfigurationError(description: "--auth-token jwt: give pub-key (to verify), priv-key (to sign), or both")
        }
        var options = Options(signMethod: method, publicKey: values["pub-key"], privateKey: values["priv-key"])
        if let text = values["ttl"] {
            guard let ttl = GoFlagSet.duration(text), ttl > .zero else {
                throw ConfigurationError(description: "--auth-token jwt: ttl \(text): expected a duration, e.g. 5m")
            }
            options.ttl = ttl
        }
        return options
    }

    /// Loads the keys (the private key if given: it verifies too).
    public static func load(_ options: Options) async throws -> JWTTokens {
        func read(_ path: String) throws -> String {
            do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ConfigurationError(description: "--auth-token jwt: cannot read the key \(path): \(error.localizedDescription)")
            }
        }
        let keys = JWTKeyCollection()
        let path = options.privateKey ?? options.publicKey!
        let pem = try read(path)
        let isPrivate = options.privateKey != nil
        do {
            let method = options.signMethod
            let digest: DigestAlgorithm = method.hasSuffix("256") ? .sha256 : method.hasSuffix("384") ? .sha384 : .sha512
            switch method.prefix(2) {
            case "RS":
                if isPrivate { await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: pem), digestAlgorithm: digest) }
                else { await keys.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: digest) }
            case "PS":
                if isPrivate { await keys.add(pss: try Insecure.RSA.PrivateKey(pem: pem), digestAlgorithm: digest) }
                else { await keys.add(pss: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: digest) }
            default:
                switch (method, isPrivate) {
                case ("ES256", true): await keys.add(ecdsa: try ES256PrivateKey(pem: pem))
                case ("ES256", false): await keys.add(ecdsa: try ES256PublicKey(pem: pem))
                case ("ES384", true): await keys.add(ecdsa: try ES384PrivateKey(pem: pem))
                case ("ES384", false): await keys.add(ecdsa: try ES384PublicKey(pem: pem))
                case (_, true): await keys.add(ecdsa: try ES512PrivateKey(pem: pem))
                case (_, false): await keys.add(ecdsa: try ES512PublicKey(pem: pem))
                }
            }
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(description: "--auth-token jwt: \(path) is not a \(isPrivate ? "private" : "public") key for \(options.signMethod): \(error)")
        }
        return JWTTokens(algorithm: try await keys.getKey(), canSign: isPrivate, ttl: options.ttl)
    }

    /// A token for `user`, issued at auth revision `revision`; nil if this member holds no
    /// private key.
    func sign(user: String, revision: UInt64, now: Date) throws -> String? {
        guard canSign else { return nil }
        let expiry = Date(timeIntervalSince1970: (now.timeIntervalSince1970 + Double(ttl.components.seconds)).rounded(.down))
        let claims = Claims(username: user, revision: revision, exp: ExpirationClaim(value: expiry))
        let header = Self.base64URL(Data(#"{"alg":"\#(algorithm.name)","typ":"JWT"}"#.utf8))
        let payload = String(decoding: try DefaultJWTSerializer().serialize(claims), as: UTF8.self)
        let input = header + "." + payload
        let signature = try algorithm.sign(Array(input.utf8))
        return input + "." + Self.base64URL(Data(signature))
    }

    /// Who a token names, if this member's key verifies it and it has not expired.
    func verify(_ token: String, now: Date) -> AuthInfo? {
        guard let lastDot = token.lastIndex(of: "."),
              let parsed = try? DefaultJWTParser().parse(Array(token.utf8), as: Claims.self),
              parsed.header.alg == algorithm.name,
              (try? algorithm.verify(parsed.signature, signs: Array(token[..<lastDot].utf8))) == true,
              (try? parsed.payload.exp.verifyNotExpired(currentDate: now)) != nil
        else { return nil }
        return AuthInfo(user: parsed.payload.username, revision: parsed.payload.revision)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
