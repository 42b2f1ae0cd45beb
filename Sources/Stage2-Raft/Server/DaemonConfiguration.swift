import SingleNode

/// The daemon's setup, from the original v1 flags: which member to be, where to keep its data,
/// where to listen.
public struct DaemonConfiguration: Sendable {
    /// The Raft member's configuration.
    public var server: RaftServerConfiguration
    /// Client listeners: `(host, port)`; with no flags at all, both 2379 and 4001.
    public var clientListeners: [(host: String, port: Int)]
    /// `-f`: discard the data directory's log and snapshots first.
    public var forceNewCluster = false

    /// The daemon's flags: the original's, plus those only a replicated member has.
    public static let flagSet = GoFlagSet(V1Flags.flagSet.flags + [
        .init(["snapshot-count", "snapshotCount"], default: "10000", usage: "applied entries between snapshots of the store (the log is compacted behind each)"),
        .init(["snapshot"], isBool: true, usage: "accepted for compatibility: snapshots are always taken"),
        .init(["heartbeat-interval"], default: "100", usage: "milliseconds between a leader's heartbeats (one Raft tick)"),
        .init(["election-timeout"], default: "1000", usage: "milliseconds without a leader before a member campaigns; at least 5 heartbeats"),
    ])

    /// Builds the configuration from parsed flag values (`flagSet`).
    public static func from(_ values: [String: String]) throws(V1Flags.InvalidValue) -> DaemonConfiguration {
        let noFlags = values.isEmpty
            || values.keys.allSatisfy { ["v", "vv", "snapshot", "snapshot-count", "heartbeat-interval", "election-timeout"].contains($0) }
        let stage1 = try V1Flags.configuration(from: values)
        let client = try V1Flags.hostPort(values["c"] ?? (noFlags ? "127.0.0.1:2379" : "127.0.0.1:4001"), flag: "c")
        let peer = try V1Flags.hostPort(values["s"] ?? (noFlags ? "127.0.0.1:2380" : "127.0.0.1:7001"), flag: "s")
        let name = noFlags ? "default" : stage1.name
        let member = Member(name: name, peerURL: "http://\(peer.host):\(peer.port)", clientURL: "http://\(client.host):\(client.port)")
        let dataDirectory = values["d"] ?? "\(name).etcd"
        var server = RaftServerConfiguration(member: member, dataDirectory: dataDirectory, peerListenPort: peer.port)
        server.peerListenHost = peer.host
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
        var listeners = [(listenHost, client.port)]
        if noFlags { listeners.append((listenHost, 4001)) }
        var configuration = DaemonConfiguration(server: server, clientListeners: listeners)
        configuration.forceNewCluster = values["f"] == "true"
        return configuration
    }
}

extension String {
    func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
