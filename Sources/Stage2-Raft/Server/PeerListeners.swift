import Logging

/// Where peers reach a member: a listener for every URL of `--listen-peer-urls`, each by its
/// own scheme.
enum PeerListeners {
    /// Opens every peer listener on `network`; returns the first one's port.
    static func open(on network: any PeerNetwork, _ configuration: RaftServerConfiguration, logger: Logger) async throws -> Int {
        var firstPort = 0
        for (number, listener) in configuration.peerListeners.enumerated() {
            if listener.plaintext && configuration.peerSecurity != nil {
                logger.warning("scheme is HTTP while key and cert files are present; ignoring key and cert files",
                               metadata: ["peer-url": "http://\(listener.host):\(listener.port)"])
            }
            let port = try await network.listen(host: listener.host, port: listener.port, plaintext: listener.plaintext)
            if number == 0 { firstPort = port }
            logger.info("listening for peers", metadata: ["address": "\(listener.host):\(port)"])
        }
        return firstPort
    }

    /// Peers dial a member by the URL the membership records for it (`recorded`), by that URL's
    /// scheme. A member recorded as `https://` whose listener there is plaintext (an `http://`
    /// listen URL, served without TLS as etcd serves it) cannot be reached by them: an upgrade
    /// from a build that served every peer URL with TLS meets this, so it is said loudly at start.
    static func warnIfServedPlaintext(recorded: String?, _ configuration: RaftServerConfiguration, logger: Logger) {
        guard configuration.peerSecurity != nil, let recorded, recorded.hasPrefix("https://"),
            let (_, port) = PeerAddress.hostPort(recorded),
            configuration.peerListeners.contains(where: { $0.plaintext && $0.port == port })
        else { return }
        logger.error(
            "this member is recorded in the cluster as \(recorded), but --listen-peer-urls serves that port as http:// (plaintext): peers dial it with TLS and will fail; listen on https:// there, or move the member to an http:// URL with etcdctl member update")
    }
}
