import Foundation
import Logging
import NIOCore
import NIOPosix
import Raft
import Synchronization
import Testing

@testable import TLS
import RaftCore

/// TLS between peers, through Stage 2's real transport: frames cross when both sides use the
/// same CA, and every mismatch is refused with a log line on both ends.
@Suite(.timeLimit(.minutes(3))) struct PeerPortTests {
    /// Frames a member received.
    final class Inbox: Sendable {
        let frames = Mutex<[PeerFrame]>([])
    }

    /// A transport that records the frames it receives, and its log.
    final class Member: Sendable {
        let transport: PeerTransport
        let inbox = Inbox()
        let logs = CapturedLogs()
        let port: Int

        init(security: (CapturedLogs) throws -> PeerSecurity?) async throws {
            let inbox = inbox
            transport = PeerTransport(group: MultiThreadedEventLoopGroup.singleton, logger: logs.logger, security: try security(logs)) { frame, _ in
                inbox.frames.withLock { $0.append(frame) }
            }
            port = try await transport.listen(host: "127.0.0.1", port: 0)
        }

        var frames: [PeerFrame] { inbox.frames.withLock { $0 } }
    }

    static func tls(
        _ pki: TestPKI, _ name: String, by authority: TestPKI.Authority? = nil, hosts: [String] = ["127.0.0.1"],
        allowedCommonName: String? = nil, allowedHostname: String? = nil
    ) -> (CapturedLogs) throws -> PeerSecurity? {
        { logs in
            let files = try pki.issue(name, by: authority, hosts: hosts)
            var certificateFiles = CertificateFiles(
                listener: "peer", certFile: files.cert, keyFile: files.key, caFile: pki.path("ca.pem"), requireClientCertificate: true)
            certificateFiles.allowedCommonName = allowedCommonName
            certificateFiles.allowedHostname = allowedHostname
            let source = try CertificateSource(certificateFiles, logger: logs.logger)
            return PeerTLS.security(source, logger: logs.logger)
        }
    }

    static func plaintext(_ logs: CapturedLogs) throws -> PeerSecurity? { nil }

    static let heartbeat = PeerFrame.raft(Message(kind: .heartbeat, to: 2, from: 1, term: 3))

    /// Sends until the frame arrives or `seconds` pass (the first sends start the connection).
    /// Generous by default: a TLS handshake on a machine busy with the rest of the suite (or a
    /// build beside it) once took over 5 s; a frame that arrives ends the wait at once.
    func deliver(from sender: Member, to receiver: Member, at url: String? = nil, within seconds: Double = 20) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if !receiver.frames.isEmpty { return true }
            sender.transport.send([Self.heartbeat], to: url ?? "https://127.0.0.1:\(receiver.port)")
            try? await Task.sleep(for: .milliseconds(50))
        }
        return !receiver.frames.isEmpty
    }

    @Test func framesCrossWhenBothPeersShareTheCA() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let one = try await Member(security: Self.tls(pki, "one"))
        let two = try await Member(security: Self.tls(pki, "two"))
        #expect(await deliver(from: one, to: two))
        #expect(two.frames.first == Self.heartbeat)
        await one.transport.close()
        await two.transport.close()
    }

    @Test func aPlaintextPeerIsRefusedAndBothSidesSaySo() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let plain = try await Member(security: Self.plaintext)
        let secure = try await Member(security: Self.tls(pki, "secure"))
        #expect(await !deliver(from: plain, to: secure, within: 1))
        #expect(await secure.logs.line(containing: "refused a plaintext peer connection", "requires TLS", "remote=127.0.0.1") != nil)
        #expect(await plain.logs.line(containing: "a peer refused this member's connection", "requires TLS") != nil)
        await plain.transport.close()
        await secure.transport.close()
    }

    @Test func aTLSPeerAtAPlaintextPortIsRefusedAndBothSidesSaySo() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let secure = try await Member(security: Self.tls(pki, "secure"))
        let plain = try await Member(security: Self.plaintext)
        #expect(await !deliver(from: secure, to: plain, within: 1))
        #expect(await plain.logs.line(containing: "closing peer connection", "a TLS handshake arrived at this plaintext peer port") != nil)
        #expect(await secure.logs.line(containing: "TLS handshake with peer 127.0.0.1 failed", "without peer TLS") != nil, "\(secure.logs.all)")
        await plain.transport.close()
        await secure.transport.close()
    }

    @Test("An http:// peer URL is served and dialed without TLS beside the https:// one, as etcd serves each by its scheme")
    func plaintextListenerBesideTLS() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let secure = try await Member(security: Self.tls(pki, "secure"))
        let plainPort = try await secure.transport.listen(host: "127.0.0.1", port: 0, plaintext: true)
        // A member without TLS reaches it at its http:// URL...
        let plain = try await Member(security: Self.plaintext)
        #expect(await deliver(from: plain, to: secure, at: "http://127.0.0.1:\(plainPort)"))
        secure.inbox.frames.withLock { $0.removeAll() }
        // ...and so does a member with TLS, dialing that URL in plaintext as etcd would.
        let dialer = try await Member(security: Self.tls(pki, "dialer"))
        #expect(await deliver(from: dialer, to: secure, at: "http://127.0.0.1:\(plainPort)"))
        secure.inbox.frames.withLock { $0.removeAll() }
        // An https:// URL naming the plaintext port is a TLS handshake there, refused and named.
        let confused = try await Member(security: Self.tls(pki, "confused"))
        #expect(await !deliver(from: confused, to: secure, at: "https://127.0.0.1:\(plainPort)", within: 1))
        #expect(await secure.logs.line(containing: "a TLS handshake arrived at this plaintext peer port") != nil, "\(secure.logs.all)")
        // The TLS port still refuses plaintext.
        #expect(await !deliver(from: plain, to: secure, at: "http://127.0.0.1:\(secure.port)", within: 1))
        #expect(await secure.logs.line(containing: "refused a plaintext peer connection") != nil)
        for member in [secure, plain, dialer, confused] { await member.transport.close() }
    }

    @Test func aPeerFromAnotherCAIsRefused() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let stranger = try await Member(security: Self.tls(pki, "stranger", by: pki.otherCA))
        let member = try await Member(security: Self.tls(pki, "member"))
        #expect(await !deliver(from: stranger, to: member, within: 1))
        // Both trust the same CA file here, so the stranger accepts the member's certificate
        // and it is the member that refuses the stranger's, naming the cause.
        #expect(await member.logs.line(containing: "TLS handshake failed on the peer port", "unknown CA") != nil, "\(member.logs.all)")
        await stranger.transport.close()
        await member.transport.close()
    }

    @Test func aPeerWhoseCertificateNamesAnotherHostIsRefusedByTheDialer() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let dialer = try await Member(security: Self.tls(pki, "dialer"))
        let elsewhere = try await Member(security: Self.tls(pki, "elsewhere", hosts: ["10.9.9.9", "elsewhere.example"]))
        #expect(await !deliver(from: dialer, to: elsewhere, within: 1))
        #expect(
            await dialer.logs.line(
                containing: "TLS handshake with peer 127.0.0.1 failed: wrong host", "does not name 127.0.0.1", "subjectAltName=IP:127.0.0.1")
                != nil, "\(dialer.logs.all)")
        await dialer.transport.close()
        await elsewhere.transport.close()
    }

    @Test("--peer-cert-allowed-cn: a peer whose certificate has another Common Name is refused, the named one accepted")
    func allowedCommonName() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let guarded = try await Member(security: Self.tls(pki, "guarded", allowedCommonName: "member-one"))
        let stranger = try await Member(security: Self.tls(pki, "member-two"))
        #expect(await !deliver(from: stranger, to: guarded, within: 1))
        #expect(
            await guarded.logs.line(
                containing: "client certificate authentication failed", "Common Name is member-two", "allows only member-one") != nil,
            "\(guarded.logs.all)")
        let named = try await Member(security: Self.tls(pki, "member-one"))
        #expect(await deliver(from: named, to: guarded))
        for member in [guarded, stranger, named] { await member.transport.close() }
    }

    @Test("--peer-cert-allowed-hostname: a peer's certificate must be valid for that name")
    func allowedHostname() async throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        let guarded = try await Member(security: Self.tls(pki, "guarded", allowedHostname: "peers.example"))
        let elsewhere = try await Member(security: Self.tls(pki, "elsewhere", hosts: ["127.0.0.1", "other.example"]))
        #expect(await !deliver(from: elsewhere, to: guarded, within: 1))
        #expect(await guarded.logs.line(containing: "client certificate authentication failed", "peers.example") != nil, "\(guarded.logs.all)")
        let named = try await Member(security: Self.tls(pki, "named", hosts: ["127.0.0.1", "peers.example"]))
        #expect(await deliver(from: named, to: guarded))
        for member in [guarded, elsewhere, named] { await member.transport.close() }
    }
}
