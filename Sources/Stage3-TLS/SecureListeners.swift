import Logging
import NIOCore
import NIOSSL
import Raft
import SingleNode

/// TLS for the client port: what Stage 1's HTTP server puts in front of every connection.
public enum ClientTLS {
    /// ALPN on the client port: HTTP/1.1 first, so curl keeps speaking HTTP/1.1; gRPC clients
    /// offer only h2 and get it.
    public static let applicationProtocols = ["http/1.1", "h2"]

    /// The handlers for one accepted client connection: plaintext refusal, TLS, the
    /// handshake's log line.
    public static func setup(_ source: CertificateSource, logger: Logger) -> ConnectionSetup {
        { channel in try accept(channel, source: source, port: .client, logger: logger) }
    }
}

/// TLS between peers: both directions of Stage 2's peer transport. A member presents its
/// peer certificate when it accepts and when it dials, and checks the other side's against
/// the peer CA (when one is given: otherwise against the system's roots, as etcd does).
public enum PeerTLS {
    /// The transport hooks for `source`'s files.
    public static func security(_ source: CertificateSource, logger: Logger) -> PeerSecurity {
        PeerSecurity(
            accept: { channel in try accept(channel, source: source, port: .peer, logger: logger) },
            dial: { channel, host in
                let snapshot = source.current()
                let note = RefusalNote()
                let handler: NIOSSLClientHandler
                // SNI carries names only; an IP address is checked against the certificate's
                // IP entries by CertificateCheck.
                let serverName = CertificateCheck.isIPAddress(host) ? nil : host
                if snapshot.credentials.roots.isEmpty {
                    handler = try NIOSSLClientHandler(context: snapshot.client, serverHostname: serverName)
                } else {
                    let check = CertificateCheck(roots: snapshot.credentials.roots, purpose: .serverAuthentication(host: host))
                    handler = try NIOSSLClientHandler(
                        context: snapshot.client, serverHostname: serverName,
                        customVerificationCallback: verify(with: check, note: note, on: channel.eventLoop))
                }
                try channel.pipeline.syncOperations.addHandler(handler)
                try channel.pipeline.syncOperations.addHandler(HandshakeReporter(side: .client(peer: host), note: note, logger: logger))
            })
    }
}

/// The accepting side, shared by both ports.
func accept(_ channel: any Channel, source: CertificateSource, port: PlaintextRefusal.Port, logger: Logger) throws {
    let snapshot = source.current()
    let note = RefusalNote()
    let handlers = channel.pipeline.syncOperations
    try handlers.addHandler(PlaintextRefusal(port: port, logger: logger))
    if source.files.requireClientCertificate {
        let files = source.files
        let check = CertificateCheck(
            roots: snapshot.credentials.roots, purpose: .clientAuthentication, revoked: snapshot.credentials.revocations.revokedSerials,
            allowedCommonName: files.allowedCommonName, allowedHostname: files.allowedHostname)
        try handlers.addHandler(
            NIOSSLServerHandler(context: snapshot.server, customVerificationCallback: verify(with: check, note: note, on: channel.eventLoop)))
    } else {
        try handlers.addHandler(NIOSSLServerHandler(context: snapshot.server))
    }
    try handlers.addHandler(HandshakeReporter(side: .server(listener: source.files.listener), note: note, logger: logger))
}

/// A verification callback running `check`; a refusal's reason goes to `note` for the log.
func verify(with check: CertificateCheck, note: RefusalNote, on loop: any EventLoop) -> NIOSSLCustomVerificationCallback {
    { certificates, promise in
        let presented = certificates
        Task {
            if let reason = await check.refusal(of: presented) {
                note.record(reason)
                promise.succeed(.failed)
            } else {
                promise.succeed(.certificateVerified)
            }
        }
    }
}
