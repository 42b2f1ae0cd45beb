import SingleNode

/// The flags of etcd 3.4.23's `etcd --help` that this server does not implement, so that
/// scripts, manifests and config files written for etcd start it unchanged.
///
/// Each is parsed (from the command line or its `ETCD_*` variable) and then judged by what it
/// asks for. A value that asks for nothing beyond what this server does (etcd's default, which
/// config files written by etcd's tools spell out) passes silently. Otherwise:
/// - `ignored`: there is no counterpart here, and running without it loses nothing a client
///   relies on; the member starts and logs one warning saying why.
/// - `refused`: running without it would weaken security or lose data (a CRL not checked, a
///   cluster not forced), or it names a mode this server does not have (the v2 proxy,
///   discovery); the member does not start, and the message says what to use instead.
struct CompatibilityFlag {
    enum Disposition {
        case ignored(String)
        case refused(String)
    }

    /// The flag's name, without dashes.
    var name: String
    var isBool = false
    /// etcd 3.4's default, as its help prints it; a given value equal to it asks for nothing.
    var etcdDefault: String
    var disposition: Disposition

    static func ignored(_ name: String, _ etcdDefault: String, isBool: Bool = false, _ why: String) -> Self {
        Self(name: name, isBool: isBool, etcdDefault: etcdDefault, disposition: .ignored(why))
    }

    static func refused(_ name: String, _ etcdDefault: String, isBool: Bool = false, _ why: String) -> Self {
        Self(name: name, isBool: isBool, etcdDefault: etcdDefault, disposition: .refused(why))
    }

    var flag: GoFlagSet.Flag {
        let summary = switch disposition {
        case .ignored: "etcd 3.4: accepted; not implemented here (a warning says why)"
        case .refused: "etcd 3.4: not supported here (refused unless it asks for etcd's default)"
        }
        return GoFlagSet.Flag([name], isBool: isBool, default: etcdDefault, usage: summary)
    }

    /// Whether `value` asks for something: anything but etcd's default.
    func asksForSomething(_ value: String) -> Bool {
        if value == etcdDefault { return false }
        if isBool { return GoFlagSet.parseBool(value) != GoFlagSet.parseBool(etcdDefault) }
        // Durations: "0" and "0s", "10m" and "10m0s" ask for the same.
        if let given = GoFlagSet.duration(value), let standard = GoFlagSet.duration(etcdDefault)
        {
            return given != standard
        }
        return true
    }

    private static let proxyAdvice =
        "this server has no v2 proxy: run a member (etcd --initial-cluster-state existing) or point clients at every member's URL"
    private static let discoveryAdvice =
        "this server has no discovery: list the members with --initial-cluster name=peerURL,..."
    private static let notYet = "is not implemented yet, and this server refuses to start rather than run without it"

    static let all: [CompatibilityFlag] = [
        // Raft and storage tuning with no counterpart.
        .ignored("initial-election-tick-advance", "true", isBool: true,
                 "a restarted member here always waits a full election timeout before campaigning"),
        .ignored("max-snapshots", "5", "this server keeps the newest snapshot files and removes the rest itself"),
        .ignored("max-wals", "5", "this server removes WAL segments once a snapshot covers them"),
        .ignored("experimental-backend-bbolt-freelist-type", "array", "the backend file here is SQLite's, which keeps its own free list"),
        .ignored("experimental-enable-lease-checkpoint", "false", isBool: true,
                 "leases here keep their remaining time only on the leader; a new leader restarts them, as etcd does without checkpoints"),
        .ignored("experimental-warning-apply-duration", "100ms", "this server does not time individual applies"),
        .ignored("experimental-peer-skip-client-san-verification", "false", isBool: true,
                 "peers here verify each other's certificates against the CA only, not against their addresses"),
        // APIs and features not built (yet).
        .ignored("enable-v2", "false", isBool: true, "this server has no v2 API; it serves the v1 and v3 APIs"),
        .ignored("experimental-enable-v2v3", "", "this server has no v2 API"),
        .ignored("enable-pprof", "false", isBool: true, "there is no Go profiler here; use perf or valgrind on the process"),
        .ignored("log-package-levels", "", "this server's log has one level: use --log-level"),
        // Modes of etcd 3.4 that this server does not have.
        .refused("proxy", "off", "--proxy: \(proxyAdvice)"),
        .refused("proxy-failure-wait", "5000", "--proxy-failure-wait: \(proxyAdvice)"),
        .refused("proxy-refresh-interval", "30000", "--proxy-refresh-interval: \(proxyAdvice)"),
        .refused("proxy-dial-timeout", "1000", "--proxy-dial-timeout: \(proxyAdvice)"),
        .refused("proxy-write-timeout", "5000", "--proxy-write-timeout: \(proxyAdvice)"),
        .refused("proxy-read-timeout", "0", "--proxy-read-timeout: \(proxyAdvice)"),
        .refused("discovery", "", "--discovery: \(discoveryAdvice)"),
        .refused("discovery-fallback", "proxy", "--discovery-fallback: \(discoveryAdvice)"),
        .refused("discovery-proxy", "", "--discovery-proxy: \(discoveryAdvice)"),
        .refused("discovery-srv", "", "--discovery-srv: \(discoveryAdvice)"),
        .refused("discovery-srv-name", "", "--discovery-srv-name: \(discoveryAdvice)"),
    ]

    static func owns(_ name: String) -> Bool { all.contains { $0.name == name } }

    /// Judges the values given: the warnings to log once the log is set up, or the first refusal.
    static func judge(_ values: [String: String]) -> Result<[String], V1Flags.InvalidValue> {
        var warnings: [String] = []
        for flag in all {
            guard let value = values[flag.name], flag.asksForSomething(value) else { continue }
            switch flag.disposition {
            case .ignored(let why): warnings.append("--\(flag.name)=\(value) is accepted but has no effect: \(why)")
            case .refused(let why): return .failure(V1Flags.InvalidValue(description: why))
            }
        }
        return .success(warnings)
    }
}
