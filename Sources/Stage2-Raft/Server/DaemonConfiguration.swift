import RaftCore
import SingleNode

/// The daemon's setup, from the original v1 flags: which member to be, where to keep its data,
/// where to listen.
public struct DaemonConfiguration: Sendable {
    /// The Raft member's configuration.
    public var server: RaftServerConfiguration
    /// Client listeners: `(host, port)`; with no flags at all, both 2379 and 4001.
    public var clientListeners: [(host: String, port: Int)]
    /// Unix domain sockets to serve clients on too: `unix://localhost:2379` in
    /// `--listen-client-urls` is the socket file `localhost:2379`, as etcd names it (relative
    /// to the working directory; `unix:///run/etcd.sock` is an absolute path).
    public var clientSocketPaths: [String] = []
    /// Listeners given as `http://host:port` or `unix://path` in `--listen-client-urls`
    /// ("host:port", or the path): plaintext even when client TLS is configured, as etcd serves
    /// each URL by its own scheme.
    public var plaintextClientAddresses: Set<String> = []
    /// Whether the advertised peer URL came with its scheme (etcd 3's flags), which then stands;
    /// a bare v1 `-s host:port` takes https:// from peer TLS.
    public var peerSchemeGiven = false
    /// `-f`: discard the data directory's log and snapshots first.
    public var forceNewCluster = false
    /// `-v1-http`: how HTTP requests reach the v1 API (NIO's pipelining handler, or ours).
    public var httpPath = V1HTTPPath.fast

    /// The daemon's flags: the original's, plus those only a replicated member has.
    public static let flagSet = GoFlagSet(V1Flags.flagSet.flags + [
        .init(["snapshot-count", "snapshotCount"], default: "10000", usage: "applied entries between snapshots of the store (the log is compacted behind each)"),
        .init(["experimental-snapshot-catchup-entries"], default: "5000", usage: "etcd 3.5: entries kept in the log behind each snapshot, for followers that lag a little (one further behind gets the snapshot)"),
        .init(["snapshot"], isBool: true, usage: "accepted for compatibility: snapshots are always taken"),
        .init(["heartbeat-interval"], default: "100", usage: "milliseconds between a leader's heartbeats (one Raft tick)"),
        .init(["election-timeout"], default: "1000", usage: "milliseconds without a leader before a member campaigns; at least 5 heartbeats"),
        .init(["listen-client-urls"], usage: "etcd 3: comma-separated URLs to serve clients on"),
        .init(["advertise-client-urls"], usage: "etcd 3: this member's client URL, as others should use it"),
        .init(["listen-peer-urls"], usage: "etcd 3: the URL to serve peers on"),
        .init(["initial-advertise-peer-urls"], usage: "etcd 3: this member's peer URL, as others should use it"),
        .init(["initial-cluster"], usage: "etcd 3: name=peerURL,... of the members when this one starts"),
        .init(["initial-cluster-state"], default: "new", usage: "etcd 3: new (found the cluster) or existing (join it)"),
        .init(["initial-cluster-token"], default: "etcd-cluster", usage: "etcd 3: names a new cluster; members founded with different tokens refuse each other"),
        .init(["enable-raft-view"], isBool: true, usage: "serve a live view of the cluster's Raft state at /debug/raft on the client ports (read-only)"),
        .init(["raft-lab-control"], usage: "set by `etcd lab` for the members it starts: its control address; turns on the view's lab controls"),
    ])

    /// Builds the configuration from parsed flag values (`flagSet`).
    public static func from(_ values: [String: String]) throws(V1Flags.InvalidValue) -> DaemonConfiguration {
        let etcd3Only = ["listen-client-urls", "advertise-client-urls", "listen-peer-urls", "initial-advertise-peer-urls", "initial-cluster"]
        // With no flags, or with etcd 3's, unspecified settings take etcd 3's defaults.
        let noFlags = values.isEmpty || values.keys.contains { etcd3Only.contains($0) }
            || values.keys.allSatisfy { ["v", "vv", "snapshot", "snapshot-count", "heartbeat-interval", "election-timeout", "initial-cluster-token", "enable-raft-view", "v1-http"].contains($0) }
        var values = values
        try applyEtcd3Flags(&values)
        let stage1 = try V1Flags.configuration(from: values)
        let client = try V1Flags.hostPort(values["c"] ?? (noFlags ? "127.0.0.1:2379" : "127.0.0.1:4001"), flag: "c")
        let peer = try V1Flags.hostPort(values["s"] ?? (noFlags ? "127.0.0.1:2380" : "127.0.0.1:7001"), flag: "s")
        let name = noFlags ? (values["n"] ?? "default") : stage1.name
        // An etcd 3 URL keeps its scheme (peers dial it so); a bare v1 `-s host:port` is http://
        // until Stage 3 makes it https:// for a member with peer TLS (`advertiseTLS`).
        let peerScheme = values["s"]?.hasPrefix("https://") == true ? "https" : "http"
        let member = Member(name: name, peerURL: "\(peerScheme)://\(peer.host):\(peer.port)", clientURL: "http://\(client.host):\(client.port)")
        let dataDirectory = values["d"] ?? "\(name).etcd"
        // etcd 3 listens where --listen-*-urls say and tells others the --*advertise* URLs: a
        // container listens on 0.0.0.0:2380 and is reached at its service's name, or on another
        // port behind a forward. Without listen URLs, it listens where it advertises (v1's -c, -s).
        let peerListen = try Self.firstTCP(values["listen-peer-urls"], flag: "listen-peer-urls") ?? peer
        let clientListen = try Self.firstTCP(values["listen-client-urls"], flag: "listen-client-urls")
        var server = RaftServerConfiguration(member: member, dataDirectory: dataDirectory, peerListenPort: peerListen.port)
        server.peerListenHost = peerListen.host
        // etcd listens on every URL of --listen-peer-urls, each by its own scheme.
        let peerListenURLs = (values["listen-peer-urls"] ?? "").split(separator: ",").map { String($0).trimmingCharacters() }
            .filter { !$0.isEmpty && unixSocketPath($0) == nil }
        server.peerListenPlaintext = peerListenURLs.first?.hasPrefix("http://") ?? false
        for url in peerListenURLs.dropFirst() {
            let (host, port) = try V1Flags.hostPort(url, flag: "listen-peer-urls")
            let listener = PeerListener(host: host, port: port, plaintext: url.hasPrefix("http://"))
            if !server.peerListeners.contains(where: { ($0.host, $0.port) == (host, port) }) { server.additionalPeerListeners.append(listener) }
        }
        server.historyCapacity = stage1.historyCapacity
        server.join = (values["C"] ?? "").split(separator: ",").map { String($0).trimmingCharacters() }.filter { !$0.isEmpty }
        if let text = values["maxsize"] {
            guard let size = Int(text), size > 0 else {
                throw V1Flags.InvalidValue(description: "-maxsize \(text): expected a positive number of machines")
            }
            server.maxClusterSize = size
        }
        if let text = values["snapshot-count"] {
            guard let count = UInt64(text), count > 0 else {
                throw V1Flags.InvalidValue(description: "-snapshot-count \(text): expected a positive number of entries")
            }
            server.snapshotCount = count
        }
        if let text = values["experimental-snapshot-catchup-entries"] {
            guard let count = UInt64(text), count > 0 else {
                throw V1Flags.InvalidValue(description: "--experimental-snapshot-catchup-entries \(text): expected a positive number of entries")
            }
            server.snapshotKeepEntries = count
        }
        let heartbeat = Int(values["heartbeat-interval"] ?? "100") ?? 0
        let election = Int(values["election-timeout"] ?? "1000") ?? 0
        guard heartbeat > 0, election > 0 else {
            throw V1Flags.InvalidValue(description: "-heartbeat-interval and -election-timeout take a number of milliseconds, e.g. -heartbeat-interval 100")
        }
        // etcd's own rule and words: fewer than five heartbeats per election makes spurious
        // elections likely.
        guard election >= 5 * heartbeat else {
            throw V1Flags.InvalidValue(description: "--election-timeout[\(election)ms] should be at least as 5 times as --heartbeat-interval[\(heartbeat)ms]")
        }
        server.heartbeatInterval = .milliseconds(Int64(heartbeat))
        server.electionTicks = election / heartbeat
        let listenHost = values["cl"] ?? client.host
        var listeners = [clientListen ?? (listenHost, client.port)]
        if values.isEmpty || !values.keys.contains(where: { etcd3Only.contains($0) || ["c", "s", "n", "d", "C"].contains($0) }) {
            listeners.append((listenHost, 4001))
        }
        // etcd 3 listens on every URL of --listen-client-urls (kubeadm gives loopback and the
        // node's address).
        let listenURLs = (values["listen-client-urls"] ?? "").split(separator: ",").map { String($0).trimmingCharacters() }
        for url in listenURLs.filter({ Self.unixSocketPath($0) == nil }).dropFirst() {
            let (host, port) = try V1Flags.hostPort(url, flag: "listen-client-urls")
            if !listeners.contains(where: { $0 == (host, port) }) { listeners.append((host, port)) }
        }
        if let founders = values["initial-cluster-members"] {
            // Exactly as --initial-cluster lists them, this member included: every founder must
            // write byte-identical founding entries. Client URLs are published later.
            server.initialCluster = founders.split(separator: ",").map { item in
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                return Member(name: parts[0], peerURL: parts[1], clientURL: "")
            }
        }
        var configuration = DaemonConfiguration(server: server, clientListeners: listeners)
        configuration.peerSchemeGiven = values["s"]?.contains("://") == true
        configuration.clientSocketPaths = listenURLs.compactMap(Self.unixSocketPath)
        for url in listenURLs where url.hasPrefix("http://") || url.hasPrefix("unix://") {
            if let path = Self.unixSocketPath(url) {
                configuration.plaintextClientAddresses.insert(path)
            } else {
                let (host, port) = try V1Flags.hostPort(url, flag: "listen-client-urls")
                configuration.plaintextClientAddresses.insert("\(host):\(port)")
            }
        }
        configuration.forceNewCluster = values["f"] == "true"
        configuration.httpPath = stage1.httpPath
        if let token = values["initial-cluster-token"] { configuration.server.clusterToken = token }
        if values["enable-raft-view"] == "true" || values["raft-lab-control"] != nil {
            configuration.server.raftView = RaftViewSettings(labControlURL: values["raft-lab-control"])
        }
        return configuration
    }
}

extension DaemonConfiguration {
    /// The first TCP URL of a comma-separated list (unix:// ones are sockets, not ports).
    static func firstTCP(_ urls: String?, flag: String) throws(V1Flags.InvalidValue) -> (host: String, port: Int)? {
        guard let url = urls?.split(separator: ",").map({ String($0).trimmingCharacters() }).first(where: { unixSocketPath($0) == nil })
        else { return nil }
        return try V1Flags.hostPort(url, flag: flag)
    }

    /// Translates etcd 3's URL flags into the original ones (`-c`, `-s`, `-cl`, `-C`), so one
    /// path builds the configuration. Only what this build can honour is accepted.
    static func applyEtcd3Flags(_ values: inout [String: String]) throws(V1Flags.InvalidValue) {
        func first(_ flag: String) -> String? {
            values[flag]?.split(separator: ",").first.map { String($0).trimmingCharacters() }
        }
        if let advertise = first("advertise-client-urls") { values["c"] = advertise }
        let tcpListen = values["listen-client-urls"]?.split(separator: ",").map { String($0).trimmingCharacters() }.first { unixSocketPath($0) == nil }
        if let listen = tcpListen {
            let (host, port) = try V1Flags.hostPort(listen, flag: "listen-client-urls")
            values["cl"] = host
            if values["c"] == nil { values["c"] = "\(host):\(port)" }
        }
        if let advertise = first("initial-advertise-peer-urls") { values["s"] = advertise }
        if let listen = first("listen-peer-urls"), values["s"] == nil { values["s"] = listen }
        guard let cluster = values["initial-cluster"], !cluster.isEmpty else { return }
        var members: [(name: String, url: String)] = []
        for item in cluster.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters() }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw V1Flags.InvalidValue(description: "--initial-cluster \(cluster): expected name=peerURL,... e.g. infra0=http://127.0.0.1:2380")
            }
            members.append((parts[0], parts[1]))
        }
        let name = values["n"] ?? "default"
        guard members.contains(where: { $0.name == name }) else {
            throw V1Flags.InvalidValue(description:
                "couldn't find local name \"\(name)\" in the initial cluster configuration: add \(name)=<its peer URL> to --initial-cluster, or start with --name set to one of \(members.map(\.name).joined(separator: ", "))")
        }
        switch values["initial-cluster-state"] ?? "new" {
        case "existing":
            values["C"] = members.filter { $0.name != name }.map(\.url).joined(separator: ",")
        case "new":
            values["initial-cluster-members"] = members.map { "\($0.name)=\($0.url)" }.joined(separator: ",")
        case let state:
            throw V1Flags.InvalidValue(description: "--initial-cluster-state \(state): expected new or existing")
        }
    }
}

extension DaemonConfiguration {
    /// The socket file a `unix://` or `unixs://` URL names, else nil.
    static func unixSocketPath(_ url: String) -> String? {
        for scheme in ["unix://", "unixs://"] where url.hasPrefix(scheme) {
            let path = String(url.dropFirst(scheme.count))
            return path.isEmpty ? nil : path
        }
        return nil
    }
}

extension String {
    func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
