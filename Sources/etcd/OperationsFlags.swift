import Logging
import SingleNode

/// The daemon's operational flags, from etcd 3.4: logging, the backend quota, metrics, and
/// reconfiguration checks. They say how the member runs, not which member it is, so they are
/// parsed here, apart from the flags that build its configuration.
struct OperationsFlags {
    static let flags: [GoFlagSet.Flag] = [
        .init(["log-level"], default: "info", usage: "etcd 3: debug, info, warn, error, panic or fatal"),
        .init(["logger"], default: "capnslog", usage: "etcd 3: capnslog or zap; both write this server's log lines to stderr"),
        .init(["log-outputs"], default: "default", usage: "etcd 3: default, stderr or stdout"),
        .init(["debug"], isBool: true, usage: "etcd 3: the same as --log-level debug"),
        .init(["quota-backend-bytes"], default: "0", usage: "etcd 3: the store's size past which writes raise the NOSPACE alarm (0: 2 GiB)"),
        .init(["listen-metrics-urls"], usage: "etcd 3: extra http://host:port URLs serving /metrics and /health"),
        .init(["strict-reconfig-check"], isBool: true, default: "true", usage: "etcd 3: refuse membership changes that could cost the quorum"),
        .init(["experimental-watch-progress-notify-interval"], default: "10m0s", usage: "etcd 3: how often idle watchers that asked are told the revision"),
    ]

    static func owns(_ name: String) -> Bool { flags.contains { $0.names[0] == name } }

    var logLevel: Logger.Level = .info
    var toStandardOutput = false
    var quotaBytes = 0
    var metricsListeners: [(host: String, port: Int)] = []
    var progressNotifyInterval: Duration = .seconds(600)

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
        for output in (values["log-outputs"] ?? "default").split(separator: ",") {
            switch output {
            case "default", "stderr": break
            case "stdout": toStandardOutput = true
            default: throw V1Flags.InvalidValue(description: "--log-outputs \(output): expected default, stderr or stdout (files and journald are not supported)")
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
        if values["strict-reconfig-check"] == "false" {
            throw V1Flags.InvalidValue(description: "--strict-reconfig-check=false is not supported: this server always checks that a membership change keeps a quorum")
        }
    }

    /// A Go duration: numbers with units (h, m, s, ms, us, ns), e.g. "1m30s" or "250ms".
    static func goDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("h", 3600), ("m", 60), ("s", 1)]
        var rest = Substring(text)
        var seconds = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            seconds += value * scale
        }
        return .nanoseconds(Int64(seconds * 1e9))
    }
}
