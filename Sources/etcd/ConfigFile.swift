import SingleNode
import Yams

/// `--config-file`: etcd's YAML configuration (the keys of etcd's `etcd.conf.yml.sample`), read
/// into the same values the flags give, so that one path checks and applies both.
///
/// Keys are the flags' names; `client-transport-security` and `peer-transport-security` hold
/// the TLS files (`cert-file`, `key-file`, `client-cert-auth`, `trusted-ca-file`, `auto-tls`).
/// Values must be of the kind etcd's Go types take (see ConfigFileTypes.swift), refused with
/// etcd's words otherwise: durations in nanoseconds (`5000000000`, not `5s`), heartbeat and
/// election times in milliseconds, lists only for the list settings. An empty value means the
/// default. A key etcd does not define is reported, not silently dropped.
struct ConfigFile {
    /// The values by flag name.
    var values: [String: String] = [:]
    /// Keys that name no setting, for a warning each.
    var unknownKeys: [String] = []

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    /// The keys whose Go type is time.Duration: a bare number is nanoseconds.
    static let durationKeys = Set(goTypes.filter { $0.value == "time.Duration" }.keys)

    /// Each security section's keys, and the flag each one sets.
    static let security: [String: [String: String]] = [
        "client-transport-security": [
            "cert-file": "cert-file", "key-file": "key-file", "client-cert-auth": "client-cert-auth",
            "trusted-ca-file": "trusted-ca-file", "auto-tls": "auto-tls",
        ],
        "peer-transport-security": [
            "cert-file": "peer-cert-file", "key-file": "peer-key-file", "client-cert-auth": "peer-client-cert-auth",
            "trusted-ca-file": "peer-trusted-ca-file", "auto-tls": "peer-auto-tls",
        ],
    ]

    /// Reads `text`; `known` tells which flag names exist.
    init(yaml text: String, path: String, known: (String) -> Bool) throws(Invalid) {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw Invalid(description: "--config-file \(path): not valid YAML: \(error)")
        }
        guard let root else { return }
        guard let mapping = root.mapping else {
            throw Invalid(description: "--config-file \(path): expected a mapping of settings (name: value), e.g. name: infra0")
        }
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.string else { throw Invalid(description: "--config-file \(path): a key is not text: \(keyNode)") }
            if let goType = Self.goTypes[key],
                let error = Self.typeError(valueNode, goType: goType, field: key, structName: Self.proxyKeys.contains(key) ? "configProxy" : "configYAML")
            {
                throw Invalid(description: error)
            }
            if let section = Self.security[key] {
                guard let fields = valueNode.mapping else {
                    if valueNode.scalar.map({ $0.string.isEmpty || $0.string == "null" || $0.string == "~" }) ?? false { continue }
                    throw Invalid(description: "--config-file \(path): \(key) must be a mapping (cert-file, key-file, client-cert-auth, trusted-ca-file, auto-tls)")
                }
                for (fieldNode, fieldValue) in fields {
                    let field = fieldNode.string ?? ""
                    if let goType = Self.securityGoTypes[field],
                        let error = Self.typeError(fieldValue, goType: goType, field: "\(key).\(field)", structName: "securityConfig")
                    {
                        throw Invalid(description: error)
                    }
                    guard let flag = section[field] else {
                        unknownKeys.append("\(key).\(field)")
                        continue
                    }
                    if let value = try Self.text(fieldValue, key: "\(key).\(field)", path: path) { values[flag] = value }
                }
                continue
            }
            guard known(key) else {
                unknownKeys.append(key)
                continue
            }
            guard var value = try Self.text(valueNode, key: key, path: path) else { continue }
            // YAML's other ways of writing a number (0x10, 0755, 1_000) as the flags read them.
            if let goType = Self.goTypes[key], goType.hasPrefix("uint") || goType.hasPrefix("int") || goType == "time.Duration",
                let number = Self.integer(value)
            {
                value = String(number)
            }
            if Self.durationKeys.contains(key), Int64(value) != nil { value += "ns" }
            values[key] = value
        }
    }

    /// A value as a flag would give it: scalars as written, lists joined with commas; nil for
    /// an empty value (the default).
    private static func text(_ node: Node, key: String, path: String) throws(Invalid) -> String? {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string) { return nil }
            return scalar.string
        case .sequence(let sequence):
            var items: [String] = []
            for item in sequence {
                guard let text = item.scalar?.string else { throw Invalid(description: "--config-file \(path): \(key) must list plain values") }
                items.append(text)
            }
            return items.isEmpty ? nil : items.joined(separator: ",")
        default:
            throw Invalid(description: "--config-file \(path): \(key) must be a value or a list, not a mapping")
        }
    }
}
