import Yams

// The Go type of each setting of etcd 3.4's configuration file, and the check etcd's decoding
// makes: it turns the YAML into JSON (sigs.k8s.io/yaml) and decodes that into its Go structs
// (encoding/json), so a value of the wrong kind is refused with encoding/json's words, naming
// the struct field. Numbers are not turned into text for text settings (the embedded struct
// defeats sigs.k8s.io/yaml's conversion), durations are nanoseconds, and only the list settings
// take lists. Read from etcd 3.4.23's embed and etcdmain packages.
extension ConfigFile {
    /// Top-level keys (`configYAML`, and `configProxy`'s proxy keys read in a second pass).
    static let goTypes: [String: String] = [
        "advertise-client-urls": "string", "auth-token": "string", "auth-token-ttl": "uint",
        "auto-compaction-mode": "string", "auto-compaction-retention": "string", "backend-batch-interval": "time.Duration",
        "backend-batch-limit": "int", "bcrypt-cost": "uint", "cipher-suites": "[]string",
        "client-transport-security": "embed.securityConfig", "cors": "string", "data-dir": "string", "debug": "bool",
        "discovery": "string", "discovery-fallback": "string", "discovery-proxy": "string", "discovery-srv": "string",
        "discovery-srv-name": "string", "election-timeout": "uint", "enable-grpc-gateway": "bool", "enable-pprof": "bool",
        "enable-v2": "bool", "experimental-backend-bbolt-freelist-type": "string",
        "experimental-compaction-batch-limit": "int", "experimental-corrupt-check-time": "time.Duration",
        "experimental-enable-lease-checkpoint": "bool", "experimental-enable-lease-checkpoint-persist": "bool",
        "experimental-enable-v2v3": "string", "experimental-initial-corrupt-check": "bool",
        "experimental-warning-apply-duration": "time.Duration",
        "experimental-watch-progress-notify-interval": "time.Duration", "force-new-cluster": "bool",
        "grpc-keepalive-interval": "time.Duration", "grpc-keepalive-min-time": "time.Duration",
        "grpc-keepalive-timeout": "time.Duration", "heartbeat-interval": "uint", "host-whitelist": "string",
        "initial-advertise-peer-urls": "string", "initial-cluster": "string", "initial-cluster-state": "string",
        "initial-cluster-token": "string", "initial-election-tick-advance": "bool", "listen-client-urls": "string",
        "listen-metrics-urls": "string", "listen-peer-urls": "string", "log-level": "string", "log-output": "[]string",
        "log-outputs": "[]string", "log-package-levels": "string", "logger": "string", "max-concurrent-streams": "uint32",
        "max-request-bytes": "uint", "max-snapshots": "uint", "max-txn-ops": "uint", "max-wals": "uint",
        "metrics": "string", "name": "string", "peer-transport-security": "embed.securityConfig", "pre-vote": "bool",
        "proxy": "string", "proxy-dial-timeout": "uint", "proxy-failure-wait": "uint", "proxy-read-timeout": "uint",
        "proxy-refresh-interval": "uint", "proxy-write-timeout": "uint", "quota-backend-bytes": "int64",
        "snapshot-count": "uint64", "strict-reconfig-check": "bool", "unsafe-no-fsync": "bool", "wal-dir": "string",
    ]

    /// The keys of `client-transport-security` and `peer-transport-security`.
    static let securityGoTypes: [String: String] = [
        "auto-tls": "bool", "cert-file": "string", "client-cert-auth": "bool", "key-file": "string",
        "trusted-ca-file": "string",
    ]

    /// The second pass's keys: their struct is `configProxy`, and there text settings do take
    /// numbers (sigs.k8s.io/yaml's conversion works on that struct).
    static let proxyKeys: Set<String> = [
        "proxy", "proxy-failure-wait", "proxy-refresh-interval", "proxy-dial-timeout", "proxy-write-timeout", "proxy-read-timeout",
        "discovery-fallback",
    ]

    /// What JSON a YAML node becomes: string, number (with its text), bool, null, array or object.
    static func jsonKind(_ node: Node) -> (kind: String, number: String?) {
        switch node {
        case .mapping: return ("object", nil)
        case .sequence: return ("array", nil)
        case .alias, .scalar:
            guard let scalar = node.scalar else { return ("string", nil) }
            let text = scalar.string
            // Quoted, it is text whatever it reads as.
            guard scalar.style == .plain else { return ("string", nil) }
            if ["", "~", "null", "Null", "NULL"].contains(text) { return ("null", nil) }
            // YAML 1.1's booleans, as go-yaml v2 resolves them.
            let booleans: Set<String> = [
                "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
                "on", "On", "ON", "off", "Off", "OFF",
            ]
            if booleans.contains(text) { return ("bool", nil) }
            if integer(text) != nil || isFloat(text) { return ("number", text) }
            return ("string", nil)
        }
    }

    /// A YAML 1.1 integer: decimal, 0x hex, 0b binary or 0-led octal, a sign, underscores.
    static func integer(_ text: String) -> Int64? {
        var digits = text.replacingOccurrences(of: "_", with: "")
        var negative = false
        if let sign = digits.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            digits.removeFirst()
        }
        let value: Int64?
        if digits.hasPrefix("0x") { value = Int64(digits.dropFirst(2), radix: 16) }
        else if digits.hasPrefix("0b") { value = Int64(digits.dropFirst(2), radix: 2) }
        else if digits.count > 1 && digits.hasPrefix("0") { value = Int64(digits.dropFirst(), radix: 8) }
        else { value = digits.allSatisfy(\.isNumber) && !digits.isEmpty ? Int64(digits) : nil }
        return value.map { negative ? -$0 : $0 }
    }

    static func isFloat(_ text: String) -> Bool {
        guard text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), text.first != "e", text.first != "E" else { return false }
        return Double(text) != nil || [".inf", ".Inf", ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN"].contains(text)
    }

    /// etcd's refusal of `node` for the setting `field` of Go type `goType` in `structName`, or
    /// nil if etcd takes it.
    static func typeError(_ node: Node, goType: String, field: String, structName: String) -> String? {
        let (kind, number) = jsonKind(node)
        if kind == "null" { return nil }
        func refuse(_ what: String) -> String {
            "error verifying flags, error unmarshaling JSON: while decoding JSON: json: cannot unmarshal \(what) into Go struct field \(structName).\(field) of type \(goType). See 'etcd --help'."
        }
        switch goType {
        case "string":
            if kind == "string" || (structName == "configProxy" && (kind == "number" || kind == "bool")) { return nil }
            return refuse(kind)
        case "bool":
            return kind == "bool" ? nil : refuse(kind)
        case "[]string":
            if kind == "array" {
                // Each item must be text.
                for item in node.sequence ?? [] where jsonKind(item).kind != "string" {
                    return refuse(jsonKind(item).kind)
                }
                return nil
            }
            return refuse(kind)
        case "embed.securityConfig":
            return kind == "object" ? nil : refuse(kind)
        default:  // the integers and time.Duration
            guard kind == "number", let text = number else { return refuse(kind) }
            guard let value = integer(text) else { return refuse("number \(text)") }
            let unsigned = goType.hasPrefix("uint")
            let fits = goType == "uint32" ? (0...Int64(UInt32.max)).contains(value) : !unsigned || value >= 0
            return fits ? nil : refuse("number \(text)")
        }
    }
}
