import Foundation
import Logging
import V3
import SingleNode

/// The daemon's operational flags, from etcd 3.4: logging, the backend quota, metrics, and
/// reconfiguration checks. They say how the member runs, not which member it is, so they are
/// parsed here, apart from the flags that build its configuration.
struct OperationsFlags {
    static let flags: [GoFlagSet.Flag] = [
        .init(["log-level"], default: "info", usage: "etcd 3: debug, info, warn, error, panic or fatal"),
        .init(["logger"], default: "capnslog", usage: "etcd 3: capnslog or zap; both write this server's log lines to stderr"),
        .init(["log-outputs"], default: "default", usage: "etcd 3: comma-separated: default, stderr, stdout, systemd/journal (stderr, which systemd journals) or a file path"),
        .init(["debug"], isBool: true, usage: "etcd 3: the same as --log-level debug"),
        .init(["quota-backend-bytes"], default: "0", usage: "etcd 3: the store's size past which writes raise the NOSPACE alarm (0: 2 GiB)"),
        .init(["listen-metrics-urls"], usage: "etcd 3: extra http://host:port URLs serving /metrics and /health"),
        .init(["strict-reconfig-check"], isBool: true, default: "true", usage: "etcd 3: refuse membership changes that could cost the quorum"),
        .init(["experimental-watch-progress-notify-interval"], default: "10m0s", usage: "etcd 3: how often idle watchers that asked are told the revision"),
        .init(["wal-dir"], usage: "etcd 3: a directory for the WAL apart from the data directory (e.g. on its own disk)"),
        .init(["max-request-bytes"], default: "1572864", usage: "etcd 3: the largest write request taken, in bytes"),
        .init(["max-txn-ops"], default: "128", usage: "etcd 3: the most compares, or operations per branch, in one transaction"),
        .init(["max-concurrent-streams"], default: "math.MaxUint32", usage: "etcd 3: the most gRPC streams one client connection may have open"),
        .init(["pre-vote"], isBool: true, default: "true", usage: "etcd 3: ask before campaigning, so a member rejoining does not depose the leader"),
        .init(["auto-compaction-mode"], default: "periodic", usage: "etcd 3: periodic (keep a span of time) or revision (keep a number of revisions)"),
        .init(["auto-compaction-retention"], default: "0", usage: "etcd 3: what to keep: a duration (periodic; a bare number is hours) or revisions; 0 is off"),
        .init(["metrics"], default: "basic", usage: "etcd 3: basic, or extensive to also time every gRPC call (grpc_server_handling_seconds)"),
        .init(["force-new-cluster"], isBool: true, usage: "etcd 3: restart this member as a cluster of one, keeping its data (disaster recovery)"),
        .init(["grpc-keepalive-min-time"], default: "5s", usage: "etcd 3: the least a client must wait between pings; more often is a strike, three end the connection"),
        .init(["grpc-keepalive-interval"], default: "2h", usage: "etcd 3: how long a silent client connection waits before the server pings it"),
        .init(["grpc-keepalive-timeout"], default: "20s", usage: "etcd 3: how long the server waits for the answer to its ping before closing"),
        .init(["experimental-initial-corrupt-check"], isBool: true, usage: "etcd 3: before serving, compare this member's HashKV with its peers'; refuse to start on a mismatch"),
        .init(["experimental-corrupt-check-time"], default: "0s", usage: "etcd 3: how often the leader compares HashKV with its peers (a mismatch raises the CORRUPT alarm); 0 is never"),
        .init(["cors"], default: "*", usage: "etcd 3: comma-separated origins whose browsers get CORS headers; * for any"),
        .init(["host-whitelist"], default: "*", usage: "etcd 3: host names plaintext HTTP requests may use (against DNS rebinding); * for any"),
        .init(["backend-batch-interval"], default: "", usage: "etcd 3: the longest the v3 backend file waits before committing applied writes (the WAL holds them meanwhile)"),
        .init(["backend-batch-limit"], default: "10000", usage: "etcd 3: the most applied entries the v3 backend file takes before committing them"),
        .init(["experimental-compaction-batch-limit"], default: "1000", usage: "etcd 3: how many compacted revisions the backend deletes per step, so writes are never held up long"),
        .init(["auth-token"], default: "simple", usage: "etcd 3: how v3 logins are proven: simple (random tokens each member keeps), or jwt,pub-key=…,priv-key=…,sign-method=RS256|ES256|…,ttl=5m (signed tokens any member verifies)"),
        .init(["auth-token-ttl"], default: "300", usage: "etcd 3: seconds a simple token lives unused"),
        .init(["bcrypt-cost"], default: "10", usage: "etcd 3: the work factor of bcrypt password hashes (4 to 31)"),
        .init(["grpc-transport"], default: "fast", usage: "this implementation's own: fast (gRPC and the v1 API on each client port) or plain (grpc-swift's own transport: gRPC only, plaintext; to read and to measure against)"),
    ]

    static func owns(_ name: String) -> Bool { flags.contains { $0.names[0] == name } }

    var logLevel: Logger.Level = .info
    var toStandardOutput = false
    var toStandardError = false
    /// Files to append log lines to.
    var logFiles: [String] = []
    var quotaBytes = 0
    var metricsListeners: [(host: String, port: Int)] = []
    var progressNotifyInterval: Duration = .seconds(600)
    var walDirectory: String?
    var maxRequestBytes = 1_572_864
    var maxTxnOps = 128
    var tokenTTL: Duration = .seconds(300)
    /// `--auth-token jwt,…`; nil for simple tokens.
    var jwt: JWTTokens.Options?
    var bcryptCost = 10
    var maxConcurrentStreams: Int?
    var preVote = true
    var strictReconfigCheck = true
    var autoCompaction: AutoCompaction.Policy?
    var corsOrigins: Set<String> = ["*"]
    var forceNewCluster = false
    var extensiveMetrics = false
    var grpcTransport = V3Server.Transport.fast
    /// Warnings to log once logging is set up.
    var notes: [String] = []
    var initialCorruptCheck = false
    var corruptCheckInterval: Duration?
    var keepalive: (minTime: Duration, interval: Duration, timeout: Duration) = (.seconds(5), .seconds(7200), .seconds(20))
    var allowedHosts: Set<String> = ["*"]
    var backendBatch = V3StateMachine.BatchPolicy()

    init(_ values: [String: String]) throws(V1Flags.InvalidValue) {
        switch values["log-level"] ?? (values["debug"] == "true" ? "debug" : "info") {
        case "debug": logLevel = .debug
        case "info": logLevel = .info
        case "warn": logLevel = .warning
        case "error": logLevel = .error
        case "dpanic", "panic", "fatal": logLevel = .critical
        case let other:
            throw V1Flags.InvalidValue(description: "--log-level \(other): expected debug, info, warn, error, panic or fatal")
        }
        // The original's -v and -vv still turn on more.
        if values["v"] == "true" { logLevel = min(logLevel, .debug) }
        if values["vv"] == "true" { logLevel = .trace }
        if let logger = values["logger"], !["capnslog", "zap"].contains(logger) {
            throw V1Flags.InvalidValue(description: "--logger \(logger): expected capnslog or zap")
        }
        for output in (values["log-outputs"] ?? "default").split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
            switch output {
            case "default", "stderr": toStandardError = true
            case "stdout": toStandardOutput = true
            case "systemd/journal":
                // Under systemd a service's standard error goes to the journal already.
                toStandardError = true
                notes.append("--log-outputs=systemd/journal: logging to standard error, which systemd writes to the journal")
            case "": break
            default: logFiles.append(output)
            }
        }
        let quota = values["quota-backend-bytes"] ?? "0"
        guard let bytes = Int(quota) else {
            throw V1Flags.InvalidValue(description: "--quota-backend-bytes \(quota): expected a number of bytes, e.g. 8589934592")
        }
        // As etcd: 0 takes the default; a negative quota turns the check off.
        quotaBytes = bytes == 0 ? 2 << 30 : bytes
        for url in (values["listen-metrics-urls"] ?? "").split(separator: ",") {
            guard url.hasPrefix("http://") else {
                throw V1Flags.InvalidValue(description: "--listen-metrics-urls \(url): expected http://host:port (metrics are served without TLS)")
            }
            metricsListeners.append(try V1Flags.hostPort(String(url), flag: "listen-metrics-urls"))
        }
        if let text = values["experimental-watch-progress-notify-interval"] {
            guard let interval = Self.goDuration(text), interval > .zero else {
                throw V1Flags.InvalidValue(description: "--experimental-watch-progress-notify-interval \(text): expected a Go duration, e.g. 10m or 500ms")
            }
            progressNotifyInterval = interval
        }
        strictReconfigCheck = values["strict-reconfig-check"] != "false"
        preVote = values["pre-vote"] != "false"
        if let directory = values["wal-dir"], !directory.isEmpty { walDirectory = directory }
        maxRequestBytes = try Self.count(values, "max-request-bytes", default: maxRequestBytes, example: "10485760")
        maxTxnOps = try Self.count(values, "max-txn-ops", default: maxTxnOps, example: "256")
        switch values["auth-token"] ?? "simple" {
        case "simple": break
        case let other where other.hasPrefix("jwt"):
            do { jwt = try JWTTokens.options(other) } catch { throw V1Flags.InvalidValue(description: "\(error)") }
        case let other: throw V1Flags.InvalidValue(description: "--auth-token \(other): expected simple, or jwt,pub-key=…,priv-key=…,sign-method=…")
        }
        tokenTTL = .seconds(try Self.count(values, "auth-token-ttl", default: 300, example: "300"))
        bcryptCost = try Self.count(values, "bcrypt-cost", default: bcryptCost, example: "10")
        guard Passwords.costs.contains(bcryptCost) else {
            throw V1Flags.InvalidValue(description: "--bcrypt-cost \(bcryptCost): expected a cost from 4 to 31")
        }
        if let text = values["max-concurrent-streams"], text != "math.MaxUint32" {
            guard let limit = UInt32(text), limit > 0 else {
                throw V1Flags.InvalidValue(description: "--max-concurrent-streams \(text): expected a number of streams from 1 to 4294967295")
            }
            if limit != UInt32.max { maxConcurrentStreams = Int(limit) }
        }
        switch values["metrics"] ?? "basic" {
        case "basic": break
        case "extensive": extensiveMetrics = true
        case let other: throw V1Flags.InvalidValue(description: "--metrics \(other): expected basic or extensive")
        }
        switch values["grpc-transport"] ?? "fast" {
        case "fast": break
        case "plain":
            grpcTransport = .plain
            notes.append("--grpc-transport plain: the client ports serve gRPC only, in plaintext; the v1 API, /health, /metrics and /version are not served on them")
        case let other: throw V1Flags.InvalidValue(description: "--grpc-transport \(other): expected fast or plain")
        }
        func list(_ flag: String) -> Set<String> {
            let items = Set((values[flag] ?? "*").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            return items.isEmpty ? ["*"] : items  // empty allows all, as etcd's
        }
        forceNewCluster = values["force-new-cluster"] == "true"
        func duration(_ flag: String, _ standard: Duration) throws(V1Flags.InvalidValue) -> Duration {
            guard let text = values[flag] else { return standard }
            guard let value = GoFlagSet.duration(text), value >= .zero else {
                throw V1Flags.InvalidValue(description: "--\(flag) \(text): expected a Go duration, e.g. 5s or 2h")
            }
            return value
        }
        initialCorruptCheck = values["experimental-initial-corrupt-check"] == "true"
        let corruptCheck = try duration("experimental-corrupt-check-time", .zero)
        corruptCheckInterval = corruptCheck > .zero ? corruptCheck : nil
        // As etcd and grpc-go: 0 for the minimum is grpc-go's own default (5 minutes); 0 for the
        // interval or the timeout leaves etcd's defaults; an interval under a second is a second.
        let minTime = try duration("grpc-keepalive-min-time", .seconds(5))
        let interval = try duration("grpc-keepalive-interval", .seconds(7200))
        let timeout = try duration("grpc-keepalive-timeout", .seconds(20))
        keepalive = (
            minTime == .zero ? .seconds(300) : minTime, interval == .zero ? .seconds(7200) : max(interval, .seconds(1)),
            timeout == .zero ? .seconds(20) : timeout
        )
        // etcd's 0 (or an empty value) means its default for both.
        if values["backend-batch-interval"] != "" {
            let batchInterval = try duration("backend-batch-interval", .milliseconds(100))
            if batchInterval > .zero { backendBatch.interval = batchInterval }
        }
        if let text = values["backend-batch-limit"], text != "0" {
            backendBatch.limit = try Self.count(values, "backend-batch-limit", default: backendBatch.limit, example: "10000")
        }
        backendBatch.removals = try Self.count(values, "experimental-compaction-batch-limit", default: backendBatch.removals, example: "1000")
        corsOrigins = list("cors")
        allowedHosts = list("host-whitelist")
        autoCompaction = try AutoCompaction.Policy(mode: values["auto-compaction-mode"] ?? "periodic", retention: values["auto-compaction-retention"] ?? "0")
    }

    /// A positive whole number flag.
    private static func count(_ values: [String: String], _ flag: String, default standard: Int, example: String) throws(V1Flags.InvalidValue) -> Int {
        guard let text = values[flag] else { return standard }
        guard let number = Int(text), number > 0 else {
            throw V1Flags.InvalidValue(description: "--\(flag) \(text): expected a positive whole number, e.g. --\(flag) \(example)")
        }
        return number
    }

    /// A Go duration (see `GoFlagSet.duration`).
    static func goDuration(_ text: String) -> Duration? { GoFlagSet.duration(text) }
}
