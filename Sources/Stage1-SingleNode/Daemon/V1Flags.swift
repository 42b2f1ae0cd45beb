/// The original daemon's flags (v0.1.x, single dash as its README shows them), and how they
/// become a Stage 1 configuration.
public enum V1Flags {
    /// The v1 API version this build speaks, as `/version` and `-version` report it.
    public static let versionText = "v0.1.2"

    /// Every flag Stage 1 understands.
    public static let flagSet = GoFlagSet([
        .init(["n", "name"], default: "from -d, else node-<peer port>", usage: "the node's name, its identity in the cluster"),
        .init(["c"], default: "127.0.0.1:4001", usage: "client host:port, or a bare port, to listen on and advertise"),
        .init(["s"], default: "127.0.0.1:7001", usage: "peer (raft) host:port, or a bare port, advertised to peers"),
        .init(["cl"], usage: "client listen host, if different from the advertised one in -c"),
        .init(["C"], usage: "comma-separated peer host:port of machines to join (needs Stage 2)"),
        .init(["d", "data-dir"], default: "<name>.etcd", usage: "data directory (Stage 1 keeps its data in memory)"),
        .init(["m"], default: "1024", usage: "how many changes to keep for watches from an index; negative is unlimited"),
        .init(["maxsize"], default: "9", usage: "the maximum number of machines in the cluster"),
        .init(["f"], isBool: true, usage: "force a new configuration, discarding the data directory"),
        .init(["v"], isBool: true, usage: "verbose logging"),
        .init(["vv"], isBool: true, usage: "very verbose logging"),
        .init(["version"], isBool: true, usage: "print the version and exit"),
        .init(["v1-http"], default: "fast", usage: "this implementation's own: fast (our own HTTP/1 handler) or plain (NIO's pipelining handler; to read and to measure against)"),
    ])

    /// A flag value that is well formed but makes no sense.
    public struct InvalidValue: Error, CustomStringConvertible {
        /// What is wrong and how to fix it.
        public var description: String

        /// Makes an error with its message.
        public init(description: String) { self.description = description }
    }

    /// Parses `host:port`, or a bare port meaning `127.0.0.1:port` (the seed README's own
    /// cluster example passes `-s 7001 -c 4001`, which the original rejected).
    public static func hostPort(_ text: String, flag: String) throws(InvalidValue) -> (host: String, port: Int) {
        if let port = Int(text), (0...65535).contains(port) { return ("127.0.0.1", port) }
        var rest = Substring(text)
        for scheme in ["http://", "https://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw InvalidValue(description: "-\(flag) \(text): expected host:port or a port number, e.g. -\(flag) 127.0.0.1:4001")
        }
        let host = rest[..<colon]
        return (host.isEmpty ? "127.0.0.1" : String(host), port)
    }

    /// Turns parsed flag values into a Stage 1 configuration.
    public static func configuration(from values: [String: String]) throws(InvalidValue) -> SingleNodeConfiguration {
        var configuration = SingleNodeConfiguration()
        let client = try hostPort(values["c"] ?? "127.0.0.1:4001", flag: "c")
        let peer = try hostPort(values["s"] ?? "127.0.0.1:7001", flag: "s")
        configuration.clientHost = values["cl"] ?? client.host
        configuration.clientPort = client.port
        configuration.advertisedClientURL = "http://\(client.host):\(client.port)"
        configuration.peerURL = "http://\(peer.host):\(peer.port)"
        if let text = values["m"] {
            guard let capacity = Int(text) else { throw InvalidValue(description: "-m \(text): expected a whole number of events") }
            configuration.historyCapacity = capacity
        }
        configuration.name = try name(values["n"], dataDirectory: values["d"], peerPort: peer.port)
        configuration.httpPath = try httpPath(values["v1-http"], flag: "-v1-http")
        return configuration
    }

    /// `fast` or `plain` (`flag` names the flag in the error).
    public static func httpPath(_ text: String?, flag: String) throws(InvalidValue) -> V1HTTPPath {
        guard let text else { return .fast }
        guard let path = V1HTTPPath(rawValue: text) else { throw InvalidValue(description: "\(flag) \(text): expected fast or plain") }
        return path
    }

    /// The node's name: `-n`, else the data directory's last component (the seed starts nodes
    /// with `-d nodes/node1` and no `-n`), else `node-<peer port>`, so that nodes started
    /// without names do not collide as the original's `default-name` did.
    static func name(_ given: String?, dataDirectory: String?, peerPort: Int) throws(InvalidValue) -> String {
        let derived = dataDirectory.flatMap { KeyPath.segments($0).last }.flatMap { $0 == "." ? nil : $0 }
        let name = given ?? derived ?? "node-\(peerPort)"
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw InvalidValue(description: "-n \(name): a name is one path segment, e.g. -n node1")
        }
        return name
    }
}
