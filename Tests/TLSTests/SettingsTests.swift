import Foundation
import Raft
import SingleNode
import Testing

@testable import TLS

/// Flags and files are checked before the daemon serves: every mistake stops it with a message
/// that names the flag or file and the fix.
@Suite(.timeLimit(.minutes(3))) struct SettingsTests {
    func settings(_ arguments: [String]) throws -> TLSSettings {
        let values = try GoFlagSet(DaemonConfiguration.flagSet.flags + TLSFlags.flags).parse(arguments, environment: [:])
        return try TLSSettings.daemon(values)
    }

    func message(_ arguments: [String]) -> String {
        do {
            _ = try settings(arguments)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func originalFlagsTurnOnTLSAndACAFileRequiresClientCertificates() throws {
        let plain = try settings(["-clientCert", "c.pem", "-clientKey", "k.pem"])
        #expect(plain.client == CertificateFiles(listener: "client", certFile: "c.pem", keyFile: "k.pem", caFile: nil, requireClientCertificate: false))
        #expect(plain.peer == nil)
        let authenticated = try settings(["-clientCert", "c.pem", "-clientKey", "k.pem", "-clientCAFile", "ca.pem"])
        #expect(authenticated.client?.requireClientCertificate == true)
        let peers = try settings(["-serverCert", "s.pem", "-serverKey", "sk.pem", "-serverCAFile", "ca.pem"])
        #expect(peers.peer == CertificateFiles(listener: "peer", certFile: "s.pem", keyFile: "sk.pem", caFile: "ca.pem", requireClientCertificate: true))
        #expect(peers.client == nil)
    }

    @Test("A trusted CA alone requires client certificates, as etcd 3.4's TLSInfo does (a peer port given only a CA must not take any client)")
    func etcd3FlagsRequireClientCertificatesWithATrustedCA() throws {
        let trustOnly = try settings(["--cert-file", "c.pem", "--key-file", "k.pem", "--trusted-ca-file", "ca.pem"])
        #expect(trustOnly.client?.requireClientCertificate == true)
        let peerTrustOnly = try settings(["--peer-cert-file", "p.pem", "--peer-key-file", "pk.pem", "--peer-trusted-ca-file", "ca.pem"])
        #expect(peerTrustOnly.peer?.requireClientCertificate == true)
        #expect(trustOnly.client?.caFile == "ca.pem")
        let auth = try settings(["--cert-file", "c.pem", "--key-file", "k.pem", "--trusted-ca-file", "ca.pem", "--client-cert-auth"])
        #expect(auth.client?.requireClientCertificate == true)
        let peer = try settings(["--peer-cert-file", "p.pem", "--peer-key-file", "pk.pem", "--peer-trusted-ca-file", "ca.pem", "--peer-client-cert-auth"])
        #expect(peer.peer?.requireClientCertificate == true)
    }

    @Test func partialFlagsNameWhatIsMissing() {
        #expect(message(["-clientCert", "c.pem"]).contains("-clientCert/--cert-file was given without -clientKey/--key-file"))
        #expect(message(["--key-file", "k.pem"]).contains("was given without -clientCert/--cert-file"))
        #expect(message(["-clientCAFile", "ca.pem"]).contains("needs -clientCert/--cert-file FILE and -clientKey/--key-file FILE"))
        #expect(message(["-serverCAFile", "ca.pem"]).contains("TLS on the peer port needs -serverCert/--peer-cert-file"))
        #expect(message(["--cert-file", "c", "--key-file", "k", "--client-cert-auth"]).contains("--client-cert-auth needs --trusted-ca-file"))
        #expect(message(["--listen-client-urls", "https://127.0.0.1:2379"]).contains("https needs a certificate and key: add --cert-file"))
        #expect(message(["--listen-peer-urls", "https://127.0.0.1:2380"]).contains("add --peer-cert-file"))
    }

    @Test func httpsIsAdvertisedForTLSListeners() throws {
        let arguments = ["-c", "127.0.0.1:4001", "-s", "127.0.0.1:7001", "-clientCert", "c", "-clientKey", "k", "-serverCert", "s", "-serverKey", "sk"]
        let values = try GoFlagSet(DaemonConfiguration.flagSet.flags + TLSFlags.flags).parse(arguments, environment: [:])
        var configuration = try DaemonConfiguration.from(values.filter { !DaemonConfiguration.isTLSFlag($0.key) })
        configuration.advertiseTLS(try TLSSettings.daemon(values))
        #expect(configuration.server.member.clientURL == "https://127.0.0.1:4001")
        #expect(configuration.server.member.peerURL == "https://127.0.0.1:7001")
    }

    @Test("With peer TLS, an etcd 3 peer URL keeps the scheme it was given: http:// stays plaintext, as etcd dials it")
    func givenPeerSchemesStand() throws {
        let arguments = [
            "--name", "a", "--initial-cluster", "a=http://127.0.0.1:2380,b=https://127.0.0.1:2390",
            "--listen-peer-urls", "http://127.0.0.1:2380,https://127.0.0.1:2381", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--peer-cert-file", "p.pem", "--peer-key-file", "pk.pem",
        ]
        let values = try GoFlagSet(DaemonConfiguration.flagSet.flags + TLSFlags.flags).parse(arguments, environment: [:])
        var configuration = try DaemonConfiguration.from(values.filter { !DaemonConfiguration.isTLSFlag($0.key) })
        configuration.advertiseTLS(try TLSSettings.daemon(values))
        #expect(configuration.server.member.peerURL == "http://127.0.0.1:2380")
        #expect(configuration.server.initialCluster.map(\.peerURL) == ["http://127.0.0.1:2380", "https://127.0.0.1:2390"])
    }

    func loadError(_ files: CertificateFiles) -> String {
        do {
            _ = try Credentials.load(files, now: Date())
            return "no error"
        } catch {
            return error.description
        }
    }

    func files(_ cert: String, _ key: String, ca: String? = nil) -> CertificateFiles {
        CertificateFiles(listener: "client", certFile: cert, keyFile: key, caFile: ca, requireClientCertificate: ca != nil)
    }

    @Test func badFilesStopTheDaemonWithTheFileAndTheFix() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let good = try pki.issue("server")
        let other = try pki.issue("other")
        let expired = try pki.issue("expired", validFrom: -7200, validFor: 3600)
        #expect(loadError(files(good.cert, good.key, ca: pki.path("ca.pem"))) == "no error")
        let mismatch = loadError(files(good.cert, other.key))
        #expect(mismatch.contains(other.key) && mismatch.contains("is not the key of the certificate in \(good.cert)"))
        let missing = loadError(files(pki.path("nope.pem"), good.key))
        #expect(missing.contains("-clientCert/--cert-file \(pki.path("nope.pem")): cannot read a PEM certificate"))
        let expiredMessage = loadError(files(expired.cert, expired.key))
        #expect(expiredMessage.contains(expired.cert) && expiredMessage.contains("expired at") && expiredMessage.contains("issue a new one"))
        // A key file handed as the CA: no certificate in it.
        let badCA = loadError(files(good.cert, good.key, ca: good.key))
        #expect(badCA.contains("-clientCAFile/--trusted-ca-file \(good.key)"))
        let keyAsCert = loadError(files(good.key, good.key))
        #expect(keyAsCert.contains("-clientCert/--cert-file \(good.key)"))
    }
}
