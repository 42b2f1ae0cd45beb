import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SingleNode
import Testing
import X509

@testable import TLS

/// The client port over TLS, through the real listener (Stage 1's HTTP server with Stage 3's
/// setup in front), with certificates made per test. Each refusal is checked twice: what the
/// client sees, and the server's log line that names the cause and the remote.
@Suite(.timeLimit(.minutes(3))) struct ClientPortTests {
    /// Serves Stage 1's API over TLS with `files`; runs `body` with the port and the logs.
    func withTLSServer(
        _ pki: TestPKI, requireClientCertificate: Bool,
        _ body: (Int, CapturedLogs, CertificateSource) async throws -> Void
    ) async throws {
        let server = try pki.issue("server", commonName: "etcd server")
        let files = CertificateFiles(
            listener: "client", certFile: server.cert, keyFile: server.key, caFile: requireClientCertificate ? pki.path("ca.pem") : nil,
            requireClientCertificate: requireClientCertificate)
        let logs = CapturedLogs()
        let source = try CertificateSource(files, applicationProtocols: ["http/1.1", "h2"], logger: logs.logger)
        let backend = SingleNodeBackend(clock: SystemWallClock())
        let http = try await V1HTTPServer.start(
            host: "127.0.0.1", port: 0, backend: backend, setup: ClientTLS.setup(source, logger: logs.logger),
            group: MultiThreadedEventLoopGroup.singleton, logger: logs.logger)
        do {
            try await body(http.port, logs, source)
        } catch {
            try? await http.close()
            throw error
        }
        try await http.close()
    }

    @Test func httpsServesTheAPIAndPrefersHTTP1() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try await withTLSServer(pki, requireClientCertificate: false) { port, _, _ in
            // A client offering h2 first still gets http/1.1: curl must not be steered to h2.
            let outcome = try await RawClient.exchange(
                port: port, tls: RawClient.tls(caFile: pki.path("ca.pem"), alpn: ["h2", "http/1.1"]), send: .get("/version"))
            #expect(outcome.error == nil)
            #expect(outcome.negotiatedProtocol == "http/1.1")
            #expect(outcome.response.hasPrefix("HTTP/1.1 200 OK"))
            #expect(outcome.response.hasSuffix("etcd v0.1.2"))
        }
    }

    @Test func plaintextHTTPIsRefusedWithAnAnswerAndALogLine() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try await withTLSServer(pki, requireClientCertificate: false) { port, logs, _ in
            let outcome = try await RawClient.exchange(port: port, tls: nil, send: .get("/v1/keys/a"))
            #expect(outcome.response.hasPrefix("HTTP/1.0 400 Bad Request"))
            #expect(outcome.response.hasSuffix("Client sent an HTTP request to an HTTPS server.\n"))
            #expect(await logs.line(containing: "refused plaintext HTTP on the TLS client port", "remote=") != nil)
        }
    }

    @Test func aClientWithoutACertificateIsRefusedAtTheHandshake() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try await withTLSServer(pki, requireClientCertificate: true) { port, logs, _ in
            let outcome = try await RawClient.exchange(port: port, tls: RawClient.tls(caFile: pki.path("ca.pem")), send: .get("/version"))
            #expect(outcome.error != nil)
            #expect(outcome.response.isEmpty)
            #expect(await logs.line(containing: "TLS handshake failed on the client port", "sent no certificate", "remote=") != nil)
        }
    }

    @Test func aCertificateFromTheTrustedCAIsAccepted() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try await withTLSServer(pki, requireClientCertificate: true) { port, logs, _ in
            let client = try pki.issue("client", usage: .clientOnly)
            let put = "PUT /v1/keys/tls HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\nConnection: close\r\n\r\nvalue=yes"
            let outcome = try await RawClient.exchange(
                port: port, tls: RawClient.tls(caFile: pki.path("ca.pem"), cert: client.cert, key: client.key), send: put)
            #expect(outcome.error == nil)
            #expect(outcome.response.hasPrefix("HTTP/1.1 200 OK"))
            #expect(outcome.response.contains(#""value":"yes""#))
            #expect(!logs.all.contains { $0.contains("handshake failed") })
        }
    }

    @Test(arguments: [
        ("another CA", "unknown CA"),
        ("expired", "expired at"),
        ("server-only", "not for client authentication"),
        ("not yet valid", "not valid before"),
    ])
    func aBadClientCertificateIsRefusedAndTheLogSaysWhy(kind: String, cause: String) async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let client: (cert: String, key: String) =
            switch kind {
            case "another CA": try pki.issue("client", by: pki.otherCA)
            case "expired": try pki.issue("client", validFrom: -7200, validFor: 3600)
            case "server-only": try pki.issue("client", usage: .serverOnly)
            default: try pki.issue("client", validFrom: 3600)
            }
        try await withTLSServer(pki, requireClientCertificate: true) { port, logs, _ in
            let outcome = try await RawClient.exchange(
                port: port, tls: RawClient.tls(caFile: pki.path("ca.pem"), cert: client.cert, key: client.key), send: .get("/version"))
            #expect(outcome.error != nil, "the handshake must fail")
            #expect(!outcome.response.contains("200 OK"))
            #expect(await logs.line(containing: "TLS handshake failed on the client port", cause, "remote=127.0.0.1") != nil, "\(logs.all)")
        }
    }

    @Test func rotatedCertificatesAreServedToNewConnections() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try await withTLSServer(pki, requireClientCertificate: false) { port, logs, source in
            let before = try await RawClient.exchange(port: port, tls: RawClient.tls(caFile: pki.path("ca.pem")), send: .get("/version"))
            #expect(try before.serverCertificate.map { try Self.commonName($0) } == "CN=etcd server")
            // Rotate: new files under the same names, then the check a connection would make.
            try pki.issue("server", commonName: "etcd server rotated")
            #expect(source.reloadIfChanged())
            let after = try await RawClient.exchange(port: port, tls: RawClient.tls(caFile: pki.path("ca.pem")), send: .get("/version"))
            #expect(after.response.hasPrefix("HTTP/1.1 200 OK"))
            #expect(try after.serverCertificate.map { try Self.commonName($0) } == "CN=etcd server rotated")
            #expect(await logs.line(containing: "reloaded the client TLS certificate") != nil)
        }
    }

    @Test func aBrokenReplacementIsReportedAndTheOldCertificateKept() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        try await withTLSServer(pki, requireClientCertificate: false) { port, logs, source in
            // A key that belongs to another certificate: half a rotation.
            let other = try pki.issue("other")
            try FileManager.default.removeItem(atPath: pki.path("server-key.pem"))
            try FileManager.default.copyItem(atPath: other.key, toPath: pki.path("server-key.pem"))
            #expect(!source.reloadIfChanged())
            #expect(await logs.line(containing: "cannot be used; still serving the previous certificate", "is not the key of the certificate") != nil)
            let outcome = try await RawClient.exchange(port: port, tls: RawClient.tls(caFile: pki.path("ca.pem")), send: .get("/version"))
            #expect(outcome.response.hasPrefix("HTTP/1.1 200 OK"))
            #expect(try outcome.serverCertificate.map { try Self.commonName($0) } == "CN=etcd server")
        }
    }

    /// The subject as text, e.g. `CN=etcd server`.
    static func commonName(_ certificate: NIOSSLCertificate) throws -> String {
        "\(try Certificate(derEncoded: certificate.toDERBytes()).subject)"
    }
}
