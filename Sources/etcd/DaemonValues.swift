import Raft
import RaftDisk
import SingleNode

/// Where the daemon's settings come from, as etcd takes them: the command line and `ETCD_*`
/// variables, or `--config-file` (also `ETCD_CONFIG_FILE`) alone.
///
/// Two deliberate differences from etcd 3.4, which silently ignores every flag beside a config
/// file and runs with the file's settings: flags given with a config file are refused, so a
/// member never runs other than its command line says. Variables are checked as etcd checks
/// them: one that names no flag is reported, one that a flag on the command line overrides is
/// refused ("conflicting environment variable").
enum DaemonValues {
    /// Why the settings cannot be used; `showUsage` for a malformed command line.
    struct Failure: Error {
        var message: String
        var showUsage = false
    }

    static let configFileFlag = GoFlagSet.Flag(
        ["config-file"], usage: "etcd 3: a YAML file with every setting (etcd.conf.yml's keys); no other flag may be given with it")

    /// The values by canonical flag name, and lines to log once logging is set up.
    static func read(
        _ arguments: [String], environment: [String: String], flagSet: GoFlagSet
    ) throws(Failure) -> (values: [String: String], notes: [String]) {
        let commandLine: [String: String]
        do { commandLine = try flagSet.parse(arguments) } catch {
            if error == .helpRequested { throw Failure(message: "", showUsage: true) }
            throw Failure(message: "\(error)", showUsage: true)
        }
        let configPath = commandLine["config-file"] ?? environment["ETCD_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let configPath { return try fromFile(configPath, commandLine: commandLine, environment: environment, flagSet: flagSet) }
        var notes: [String] = []
        for (variable, value) in environment.sorted(by: { $0.key < $1.key }) where variable.hasPrefix("ETCD_") && variable != "ETCD_UNSUPPORTED_ARCH" {
            let name = String(variable.dropFirst(5).lowercased().map { $0 == "_" ? "-" : $0 })
            guard let flag = flagSet.flag(named: name), !value.isEmpty else {
                notes.append("unrecognized environment variable \(variable)=\(value)")
                continue
            }
            if commandLine[flag.names[0]] != nil {
                throw Failure(message:
                    "conflicting environment variable \"\(variable)\" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)")
            }
        }
        do { return (try flagSet.parse(arguments, environment: environment), notes) } catch {
            throw Failure(message: "\(error)")
        }
    }

    private static func fromFile(
        _ path: String, commandLine: [String: String], environment: [String: String], flagSet: GoFlagSet
    ) throws(Failure) -> (values: [String: String], notes: [String]) {
        // Named as etcd users spell them (`--name`, not the original's `-n`).
        let others = commandLine.keys.filter { $0 != "config-file" }.map { flagSet.flag(named: $0)?.names.last ?? $0 }.sorted()
        guard others.isEmpty else {
            throw Failure(message:
                "--config-file \(path) was given with other flags (\(others.map { "--" + $0 }.joined(separator: ", "))): put every setting in the file, or give no config file")
        }
        let bytes: [UInt8]
        do { bytes = try PosixFileSystem().readFile(path) } catch {
            throw Failure(message: "--config-file \(path): cannot read it: \(error)")
        }
        var file: ConfigFile
        do { file = try ConfigFile(yaml: String(decoding: bytes, as: UTF8.self), path: path) { flagSet.flag(named: $0) != nil } } catch {
            throw Failure(message: error.description)
        }
        // Booleans as the flags take them, so that `client-cert-auth: yes` is not read as false.
        for (name, value) in file.values {
            guard let flag = flagSet.flag(named: name), flag.isBool else { continue }
            guard let bool = GoFlagSet.parseBool(value) ?? ["yes": true, "no": false, "on": true, "off": false][value.lowercased()] else {
                throw Failure(message: "--config-file \(path): \(name) must be true or false, not \(value)")
            }
            file.values[name] = bool ? "true" : "false"
        }
        var values: [String: String] = [:]
        for (name, value) in file.values { values[flagSet.flag(named: name)?.names[0] ?? name] = value }
        var notes = ["loaded server configuration from \(path); ETCD_* environment variables are ignored"]
        notes += file.unknownKeys.map { "--config-file \(path): unknown key \($0), ignored" }
        notes += environment.keys.sorted().filter { $0.hasPrefix("ETCD_") && $0 != "ETCD_CONFIG_FILE" }.map {
            "environment variable \($0) is ignored: --config-file gives every setting"
        }
        return (values, notes)
    }
}
