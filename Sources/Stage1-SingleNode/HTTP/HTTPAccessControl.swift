/// etcd 3's access rules for the client port's HTTP side, which Stage 1 alone (the original v1
/// server) does not have: `--host-whitelist` and `--cors`.
///
/// - Host names: a plaintext request whose `Host` (without its port) is not listed gets 421 and
///   etcd's explanation. A page on another site can make a browser send requests to
///   127.0.0.1:2379 under a name its attacker controls (DNS rebinding, CVE-2018-5702); the
///   `Host` header still carries that name. Requests over TLS pass: a browser cannot be made
///   to trust this server's certificate for another name.
/// - CORS: listed origins (or `*`, etcd's default) get the Access-Control headers etcd sends,
///   and any `OPTIONS` request (a browser's preflight) is answered 200 with no body.
public struct HTTPAccessControl: Sendable {
    /// Host names a plaintext request may use; empty or containing `*` allows any.
    public var allowedHosts: Set<String>
    /// Origins that get CORS headers; `*` gives every response `Access-Control-Allow-Origin: *`.
    public var corsOrigins: Set<String>
    /// Whether the port is plaintext: only then are host names checked.
    public var checksHosts: Bool

    /// Makes the rules; etcd's defaults are `["*"]` for both lists.
    public init(allowedHosts: Set<String> = ["*"], corsOrigins: Set<String> = ["*"], checksHosts: Bool) {
        self.allowedHosts = allowedHosts
        self.corsOrigins = corsOrigins
        self.checksHosts = checksHosts
    }

    /// The 421 text for a plaintext request to a host name not allowed, or nil to serve it.
    public func refusalText(hostHeader: String?) -> String? {
        guard checksHosts, !allowedHosts.isEmpty, !allowedHosts.contains("*") else { return nil }
        let host = Self.hostname(hostHeader ?? "")
        return allowedHosts.contains(host) ? nil : Self.rebindingText(host)
    }

    /// The answer to a request for `hostHeader` that must be refused, or nil to serve it.
    func refusal(hostHeader: String?) -> V1Reply? {
        guard checksHosts, !allowedHosts.isEmpty, !allowedHosts.contains("*") else { return nil }
        let host = Self.hostname(hostHeader ?? "")
        guard !allowedHosts.contains(host) else { return nil }
        return V1Reply(status: .misdirectedRequest, body: Array(Self.rebindingText(host).utf8))
    }

    /// The CORS headers for a request from `origin`.
    public func corsHeaders(origin: String?) -> [(String, String)] {
        let allowed: String
        if corsOrigins.contains("*") {
            allowed = "*"
        } else if let origin, corsOrigins.contains(origin) {
            allowed = origin
        } else {
            return []
        }
        return [
            ("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE"),
            ("Access-Control-Allow-Origin", allowed),
            ("Access-Control-Allow-Headers", "accept, content-type, authorization"),
        ]
    }

    /// `host:port` without the port; `[::1]:2379` is `::1`; a header without a port as it is.
    static func hostname(_ header: String) -> String {
        if header.hasPrefix("["), let end = header.firstIndex(of: "]") {
            return String(header[header.index(after: header.startIndex)..<end])
        }
        if let colon = header.lastIndex(of: ":"), header.firstIndex(of: ":") == colon, Int(header[header.index(after: colon)...]) != nil {
            return String(header[..<colon])
        }
        return header
    }

    // etcd's words, so that an operator searching for them finds etcd's advice.
    static func rebindingText(_ host: String) -> String {
        """

        etcd received your request, but the Host header was unrecognized.

        To fix this, choose one of the following options:
        - Enable TLS, then any HTTPS request will be allowed.
        - Add the hostname you want to use to the whitelist in settings.
          - e.g. etcd --host-whitelist "\(host)"

        This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).


        """
    }
}
