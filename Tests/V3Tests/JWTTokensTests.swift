import Foundation
import Testing

@testable import V3

/// `--auth-token jwt,…`: tokens signed with keys made by openssl, as operators make them,
/// verified by a member holding only the public key; tampered, expired and foreign tokens
/// refused; the flag's options read as etcd reads them.
@Suite(.timeLimit(.minutes(3))) struct JWTTokensTests {
    /// A key pair in PEM files: RSA for RS/PS methods, a P-256 curve for ES256.
    static func keys(_ kind: String) throws -> (private: String, public: String) {
        let directory = NSTemporaryDirectory() + "/etcd-jwt-\(UInt64.random(in: 1...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (privatePath, publicPath) = (directory + "/key.pem", directory + "/key.pub.pem")
        let generate = kind == "rsa"
            ? ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", privatePath]
            : ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", privatePath]
        for arguments in [generate, ["pkey", "-in", privatePath, "-pubout", "-out", publicPath]] {
            let openssl = Process()
            openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            openssl.arguments = arguments
            openssl.standardError = FileHandle.nullDevice
            try openssl.run()
            openssl.waitUntilExit()
            #expect(openssl.terminationStatus == 0)
        }
        return (privatePath, publicPath)
    }

    @Test(arguments: [("RS256", "rsa"), ("PS384", "rsa"), ("ES256", "ec")])
    func aTokenSignedByOneMemberIsVerifiedByAnotherWithThePublicKey(method: String, kind: String) async throws {
        let (privateKey, publicKey) = try Self.keys(kind)
        let signer = try await JWTTokens.load(JWTTokens.options("jwt,priv-key=\(privateKey),sign-method=\(method),ttl=10m"))
        let verifier = try await JWTTokens.load(JWTTokens.options("jwt,pub-key=\(publicKey),sign-method=\(method)"))
        let now = Date()
        let token = try #require(try signer.sign(user: "alice", revision: 7, now: now))
        #expect(token.split(separator: ".").count == 3)
        #expect(verifier.verify(token, now: now) == AuthInfo(user: "alice", revision: 7))
        #expect(signer.verify(token, now: now) == AuthInfo(user: "alice", revision: 7))
        // Only a private key signs.
        #expect(try verifier.sign(user: "alice", revision: 7, now: now) == nil)
        // Expired after ttl.
        #expect(verifier.verify(token, now: now.addingTimeInterval(601)) == nil)
        // A changed payload breaks the signature.
        let parts = token.split(separator: ".").map(String.init)
        let forged = JWTTokens.base64URL(Data(#"{"username":"root","revision":7,"exp":\#(Int(now.timeIntervalSince1970) + 600)}"#.utf8))
        #expect(verifier.verify([parts[0], forged, parts[2]].joined(separator: "."), now: now) == nil)
        #expect(verifier.verify("not a token", now: now) == nil)
        // Another key's tokens are not ours.
        let (otherKey, _) = try Self.keys(kind)
        let stranger = try await JWTTokens.load(JWTTokens.options("jwt,priv-key=\(otherKey),sign-method=\(method)"))
        let foreign = try #require(try stranger.sign(user: "alice", revision: 7, now: now))
        #expect(verifier.verify(foreign, now: now) == nil)
    }

    @Test func theFlagsOptionsAreReadAsEtcdReadsThem() throws {
        let options = try JWTTokens.options("jwt,pub-key=/k.pub,priv-key=/k,sign-method=ES256,ttl=1m30s")
        #expect(options == JWTTokens.Options(signMethod: "ES256", publicKey: "/k.pub", privateKey: "/k", ttl: .seconds(90)))
        #expect(try JWTTokens.options("jwt,priv-key=/k,sign-method=RS512").ttl == .seconds(300))
        #expect(throws: JWTTokens.ConfigurationError.self) { try JWTTokens.options("jwt,priv-key=/k,sign-method=HS256") }
        #expect(throws: JWTTokens.ConfigurationError.self) { try JWTTokens.options("jwt,sign-method=RS256") }
        #expect(throws: JWTTokens.ConfigurationError.self) { try JWTTokens.options("jwt,priv-key=/k,sign-method=RS256,color=blue") }
        #expect(throws: JWTTokens.ConfigurationError.self) { try JWTTokens.options("jwt,priv-key=/k,sign-method=RS256,ttl=soon") }
    }

    @Test func aMissingOrWrongKeyFileStopsTheStartWithItsName() async throws {
        let (_, publicKey) = try Self.keys("ec")
        await #expect(throws: JWTTokens.ConfigurationError.self) {
            try await JWTTokens.load(JWTTokens.options("jwt,priv-key=/nonexistent/key.pem,sign-method=RS256"))
        }
        // A public key given as the private one.
        await #expect(throws: JWTTokens.ConfigurationError.self) {
            try await JWTTokens.load(JWTTokens.options("jwt,priv-key=\(publicKey),sign-method=ES256"))
        }
    }
}
