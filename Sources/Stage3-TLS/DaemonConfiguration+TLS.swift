import Raft

extension TLSSettings {
    /// `daemon(_:)` after `--auto-tls` and `--peer-auto-tls` have made (or found) their
    /// self-signed certificates under `dataDirectory/fixtures`, for the hosts each port
    /// listens on. A certificate given by flag wins over auto TLS; `notes` says so.
    public static func daemon(
        _ values: [String: String], dataDirectory: String, clientHosts: [String], peerHosts: [String]
    ) throws(TLSSetupError) -> (settings: TLSSettings, notes: [String]) {
        var values = values
        var notes: [String] = []
        let validityText = values["self-signed-cert-validity"] ?? "\(AutoTLS.defaultValidityYears)"
        guard let validity = Int(validityText), validity > 0 else {
            throw TLSSetupError(description: "--self-signed-cert-validity \(validityText): expected a positive number of years")
        }
        var selfSigned: [String] = []
        for (flag, listener, cert, key, hosts) in [
            ("auto-tls", "client", "clientCert", "clientKey", clientHosts), ("peer-auto-tls", "peer", "serverCert", "serverKey", peerHosts),
        ] where values[flag] == "true" {
            if !(values[cert] ?? "").isEmpty {
                notes.append("ignoring --\(flag): the \(listener) port has a certificate and key given")
                continue
            }
            let files = try AutoTLS.files(directory: dataDirectory + "/fixtures/" + listener, hosts: hosts, validityYears: validity)
            values[cert] = files.cert
            values[key] = files.key
            selfSigned.append(listener)
            notes.append("--\(flag): serving the \(listener) port with the self-signed certificate \(files.cert) (nobody is authenticated)")
        }
        var settings = try daemon(values)
        if selfSigned.contains("client") { settings.client?.isSelfSigned = true }
        if selfSigned.contains("peer") { settings.peer?.isSelfSigned = true }
        return (settings, notes)
    }

    /// Reads the TLS flags from the daemon's parsed values, including what etcd 3's URL flags
    /// imply: an `https://` listen URL without a certificate is a mistake worth stopping for.
    public static func daemon(_ values: [String: String]) throws(TLSSetupError) -> TLSSettings {
        let settings: TLSSettings
        do { settings = try TLSFlags.settings(from: values) } catch { throw TLSSetupError(description: error.description) }
        for flag in ["listen-client-urls", "advertise-client-urls"] where settings.client == nil {
            if let urls = values[flag], let scheme = ["https", "unixs"].first(where: { urls.contains($0 + "://") }) {
                throw TLSSetupError(description: "--\(flag) \(urls): \(scheme) needs a certificate and key: add --cert-file FILE --key-file FILE")
            }
        }
        for flag in ["listen-peer-urls", "initial-advertise-peer-urls"] where settings.peer == nil {
            if let urls = values[flag], urls.contains("https://") {
                throw TLSSetupError(description: "--\(flag) \(urls): https needs a certificate and key: add --peer-cert-file FILE --peer-key-file FILE")
            }
        }
        return settings
    }
}

extension DaemonConfiguration {
    /// The flags TLS adds; the daemon parses them together with the rest.
    public static func isTLSFlag(_ name: String) -> Bool {
        TLSFlags.flags.contains { $0.names[0] == name }
    }

    /// Advertises `https://` for each listener that uses TLS: the client URL in `/machines`
    /// and `/_etcd/machines`, and the peer URL in the membership. A peer URL given with its
    /// scheme (etcd 3's flags) stands as given: peers dial each URL by its scheme, as etcd's
    /// do, so `http://` stays plaintext beside `https://` while a cluster moves to TLS.
    public mutating func advertiseTLS(_ settings: TLSSettings) {
        if settings.client != nil { server.member.clientURL = Self.https(server.member.clientURL) }
        if settings.peer != nil {
            if !peerSchemeGiven { server.member.peerURL = Self.https(server.member.peerURL) }
            server.initialCluster = server.initialCluster.map { founder in
                var founder = founder
                if !founder.peerURL.contains("://") { founder.peerURL = Self.https(founder.peerURL) }
                return founder
            }
        }
    }

    static func https(_ url: String) -> String {
        url.hasPrefix("http://") ? "https://" + url.dropFirst("http://".count) : url.hasPrefix("https://") ? url : "https://" + url
    }
}
