/// Where a peer listens, from the URL the cluster knows it by.
enum PeerAddress {
    /// `http://host:port`, `https://host:port` or `host:port` to its parts; an empty host is
    /// this machine. Nil for anything else (a peer URL that names no port cannot be dialed).
    static func hostPort(_ url: String) -> (host: String, port: Int)? {
        var rest = Substring(url)
        for scheme in ["http://", "https://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (0...65535).contains(port)
        else { return nil }
        let host = rest[..<colon]
        return (host.isEmpty ? "127.0.0.1" : String(host), port)
    }
}
