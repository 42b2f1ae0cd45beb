/// A command-line parser with the rules of Go's `flag` package, which both the original etcd
/// and etcd 3 use: one or two dashes mean the same (`-name` = `--name`), a value follows as
/// `-x=v` or `-x v`, a Boolean flag takes no value unless written `-x=false`, and `--` ends
/// the flags. Swift's ArgumentParser cannot express single-dash long names such as `-maxsize`
/// alongside `--name`, which etcd users type both ways.
public struct GoFlagSet: Sendable {
    /// One flag: its names (without dashes), whether it is Boolean, and its help text.
    public struct Flag: Sendable {
        /// Every spelling, e.g. `["n", "name"]`; the first is the canonical name.
        public var names: [String]
        /// Whether the flag is a switch that takes no value.
        public var isBool: Bool
        /// The default shown in the usage text, if any.
        public var defaultText: String
        /// One line of help.
        public var usage: String

        /// Makes a flag.
        public init(_ names: [String], isBool: Bool = false, default defaultText: String = "", usage: String) {
            self.names = names
            self.isBool = isBool
            self.defaultText = defaultText
            self.usage = usage
        }
    }

    /// A command line that cannot be parsed; `description` is the message for the user.
    public enum ParseError: Error, Equatable, CustomStringConvertible {
        /// `-h` or `-help`: print the usage and exit successfully.
        case helpRequested
        /// A flag nobody defined.
        case unknownFlag(String)
        /// A flag that needs a value was last on the line.
        case missingValue(String)
        /// A Boolean flag with a value that is not a Go Boolean.
        case invalidBool(String, String)
        /// A positional argument where only flags are accepted.
        case unexpectedArgument(String)

        public var description: String {
            switch self {
            case .helpRequested: "help requested"
            case .unknownFlag(let name): "flag provided but not defined: -\(name)"
            case .missingValue(let name): "flag needs an argument: -\(name)"
            case .invalidBool(let name, let value): "invalid boolean value \"\(value)\" for -\(name)"
            case .unexpectedArgument(let argument): "unexpected argument \"\(argument)\": every option is a flag"
            }
        }
    }

    /// The flags, in the order the usage text lists them.
    public let flags: [Flag]
    private let byName: [String: Int]

    /// Makes a parser for these flags.
    public init(_ flags: [Flag]) {
        self.flags = flags
        var byName: [String: Int] = [:]
        for (position, flag) in flags.enumerated() {
            for name in flag.names { byName[name] = position }
        }
        self.byName = byName
    }

    /// The flag with this spelling, if any.
    public func flag(named name: String) -> Flag? {
        byName[name].map { flags[$0] }
    }

    /// Parses arguments (without the program name) into values by canonical name; Boolean flags
    /// map to "true" or "false". Later occurrences win, as in Go.
    public func parse(_ arguments: [String]) throws(ParseError) -> [String: String] {
        var values: [String: String] = [:]
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            guard argument.hasPrefix("-"), argument != "-" else { throw .unexpectedArgument(argument) }
            if argument == "--" {
                if let extra = remaining.first { throw .unexpectedArgument(extra) }
                break
            }
            var body = argument.dropFirst(argument.hasPrefix("--") ? 2 : 1)
            var inlineValue: Substring?
            if let equals = body.firstIndex(of: "=") {
                inlineValue = body[body.index(after: equals)...]
                body = body[..<equals]
            }
            let name = String(body)
            guard let position = byName[name] else {
                if name == "h" || name == "help" { throw .helpRequested }
                throw .unknownFlag(name)
            }
            let flag = flags[position]
            if flag.isBool {
                guard let text = inlineValue else {
                    values[flag.names[0]] = "true"
                    continue
                }
                guard let bool = Self.parseBool(String(text)) else { throw .invalidBool(name, String(text)) }
                values[flag.names[0]] = bool ? "true" : "false"
            } else if let inlineValue {
                values[flag.names[0]] = String(inlineValue)
            } else {
                guard let next = remaining.popFirst() else { throw .missingValue(name) }
                values[flag.names[0]] = next
            }
        }
        return values
    }

    /// Like `parse(_:)`, then fills flags not given from the environment as etcd does: flag
    /// `--data-dir` from `ETCD_DATA_DIR` (names of two or more letters only). The command line wins.
    public func parse(_ arguments: [String], environment: [String: String]) throws(ParseError) -> [String: String] {
        var values = try parse(arguments)
        for flag in flags where values[flag.names[0]] == nil {
            for name in flag.names where name.count > 1 {
                let variable = "ETCD_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 })
                guard let value = environment[variable] else { continue }
                if flag.isBool {
                    guard let bool = Self.parseBool(value) else { throw .invalidBool(variable, value) }
                    values[flag.names[0]] = bool ? "true" : "false"
                } else {
                    values[flag.names[0]] = value
                }
                break
            }
        }
        return values
    }

    /// Go's `strconv.ParseBool`.
    public static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": true
        case "0", "f", "F", "FALSE", "false", "False": false
        default: nil
        }
    }

    /// Go's `time.ParseDuration`: numbers with units (h, m, s, ms, us, ns), e.g. "1m30s" or
    /// "250ms"; "0" alone is zero.
    public static func duration(_ text: String) -> Duration? {
        if text == "0" { return .zero }
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
        // Go refuses what does not fit in an int64 of nanoseconds (about 292 years).
        guard seconds * 1e9 < 9.2e18 else { return nil }
        return .nanoseconds(Int64(seconds * 1e9))
    }

    /// The usage text: every flag with its spellings, default and help.
    public func usage(program: String) -> String {
        var text = "Usage: \(program) [flags]\n"
        for flag in flags {
            let spellings = flag.names.map { "-" + $0 }.joined(separator: ", ")
            text += "  \(spellings)\(flag.isBool ? "" : " <value>")\n        \(flag.usage)"
            if !flag.defaultText.isEmpty { text += " (default \(flag.defaultText))" }
            text += "\n"
        }
        return text
    }
}
