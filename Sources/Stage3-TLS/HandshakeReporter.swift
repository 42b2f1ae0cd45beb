import Foundation
import Logging
import NIOCore
import NIOSSL
import NIOTLS
import Synchronization

/// Where the verification callback leaves its reason for refusing a certificate, for the
/// reporter of the same connection to log once, with the handshake's outcome.
final class RefusalNote: Sendable {
    private let reason = Mutex<String?>(nil)
    func record(_ text: String) { reason.withLock { $0 = text } }
    var text: String? { reason.withLock { $0 } }
}

/// Logs how a TLS handshake ended, behind the TLS handler: a failure at warning level with
/// the remote address and the cause in words (no certificate, unknown CA, expired, wrong host,
/// plaintext on the other end), success at debug level with the protocol ALPN chose.
final class HandshakeReporter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    enum Side {
        /// This end accepted the connection (a client port, or a peer port).
        case server(listener: String)
        /// This end dialed a peer.
        case client(peer: String)
    }

    private let side: Side
    private let note: RefusalNote
    private let logger: Logger
    private var handshakeDone = false

    init(side: Side, note: RefusalNote, logger: Logger) {
        self.side = side
        self.note = note
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let negotiated) = event {
            handshakeDone = true
            logger.debug("TLS handshake completed", metadata: [
                "remote": "\(context.remoteAddress.logText)", "alpn": "\(negotiated ?? "none")",
            ])
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !handshakeDone {
            let remote = context.remoteAddress.logText
            switch side {
            case .server(let listener):
                logger.warning("TLS handshake failed on the \(listener) port: \(cause(of: error))", metadata: ["remote": "\(remote)"])
            case .client(let peer):
                logger.warning("TLS handshake with peer \(peer) failed: \(cause(of: error))", metadata: ["remote": "\(remote)"])
            }
            // One line per connection, and this is it: the handlers behind learn nothing
            // from a failed handshake, so the error stops here.
            handshakeDone = true
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A peer that hangs up mid-handshake raises no error on some paths; say so anyway.
        if !handshakeDone, case .client(let peer) = side {
            logger.warning("TLS handshake with peer \(peer) failed: the peer closed the connection (does it run without peer TLS? every member needs the same peer TLS flags)")
            handshakeDone = true
        }
        context.fireChannelInactive()
    }

    /// The handshake error in words an operator can act on.
    func cause(of error: any Error) -> String {
        if let reason = note.text { return reason }
        let text = "\(error)"
        func has(_ code: String) -> Bool { text.lowercased().contains(code.lowercased()) }
        switch side {
        case .server:
            if has("PEER_DID_NOT_RETURN_A_CERTIFICATE") || has("CERTIFICATE_REQUIRED") {
                return "the client sent no certificate; this port requires one signed by its CA (curl --cert/--key, etcdctl --cert/--key)"
            }
            if has("ALERT_UNKNOWN_CA") || has("ALERT_BAD_CERTIFICATE") || has("ALERT_CERTIFICATE_UNKNOWN") {
                return "the client refused this server's certificate (\(alert(text))): give the client the CA that signed it (curl --cacert, etcdctl --cacert) and dial a host name or IP the certificate names"
            }
            if has("HTTP_REQUEST") || has("WRONG_VERSION_NUMBER") { return "the client does not speak TLS" }
            if has("uncleanShutdown") || has("eof") { return "the client closed the connection during the handshake" }
            return text
        case .client:
            if has("WRONG_VERSION_NUMBER") {
                return "the peer answered in plaintext: it runs without peer TLS; every member needs the same peer TLS flags"
            }
            if has("CERTIFICATE_REQUIRED") || has("ALERT_HANDSHAKE_FAILURE") {
                return "the peer requires a client certificate this member does not have (\(alert(text)))"
            }
            if has("ALERT_UNKNOWN_CA") || has("ALERT_BAD_CERTIFICATE") || has("ALERT_CERTIFICATE_UNKNOWN") {
                return "the peer refused this member's certificate (\(alert(text))): its CA must be the peer's --peer-trusted-ca-file"
            }
            if has("uncleanShutdown") || has("eof") {
                return "the peer closed the connection (does it run without peer TLS? every member needs the same peer TLS flags)"
            }
            return text
        }
    }

    private func alert(_ text: String) -> String {
        for name in ["UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN", "CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE"] where text.contains(name) {
            return "alert " + name.lowercased().replacingOccurrences(of: "_", with: " ")
        }
        return text
    }
}
