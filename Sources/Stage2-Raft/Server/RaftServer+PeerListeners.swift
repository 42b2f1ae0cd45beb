/// Where peers reach this member: a listener for every URL of `--listen-peer-urls`, each by its
/// own scheme.
extension RaftServer {
    /// Opens every peer listener; the first one's port is `peerPort`.
    func listenForPeers() async throws {
        for (number, listener) in configuration.peerListeners.enumerated() {
            if listener.plaintext && configuration.peerSecurity != nil {
                logger.warning("scheme is HTTP while key and cert files are present; ignoring key and cert files",
                               metadata: ["peer-url": "http://\(listener.host):\(listener.port)"])
            }
            let port = try await transport.listen(host: listener.host, port: listener.port, plaintext: listener.plaintext)
            if number == 0 { peerPort = port }
            logger.info("listening for peers", metadata: ["address": "\(listener.host):\(port)"])
        }
    }

    /// Peers dial this member by the URL the membership records for it, by that URL's scheme. A
    /// member recorded as `https://` whose listener there is plaintext (an `http://` listen URL,
    /// served without TLS as etcd serves it) cannot be reached by them: an upgrade from a build
    /// that served every peer URL with TLS meets this, so it is said loudly at start.
    func warnIfRecordedPeerURLIsServedPlaintext() {
        guard configuration.peerSecurity != nil, let recorded = members[id]?.peerURL, recorded.hasPrefix("https://"),
            let (_, port) = PeerAddress.hostPort(recorded),
            configuration.peerListeners.contains(where: { $0.plaintext && $0.port == port })
        else { return }
        logger.error(
            "this member is recorded in the cluster as \(recorded), but --listen-peer-urls serves that port as http:// (plaintext): peers dial it with TLS and will fail; listen on https:// there, or move the member to an http:// URL with etcdctl member update")
    }
}
