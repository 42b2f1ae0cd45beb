/// What etcd's gateway says of a body that is not JSON: the words of Go's `encoding/json`
/// scanner ("invalid character 'x' looking for beginning of value", "unexpected EOF"), which
/// clients and scripts see verbatim. swift-protobuf decodes the body afterwards; this only
/// finds the first syntax error as Go's decoder would, reading one value and nothing after it.
enum GoJSONSyntax {
    struct Failure: Error, Equatable {
        let message: String
    }

    /// The first value's kind, in the words Go's type errors use ("object", "array", "string",
    /// "number", "bool", "null"), or the syntax error Go reports for it.
    static func check(_ bytes: [UInt8]) throws(Failure) -> String {
        var scanner = Scanner(bytes: bytes)
        scanner.skipSpace()
        return try scanner.value()
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d { position += 1 }
        }

        func invalid(_ byte: UInt8, _ context: String) -> Failure {
            Failure(message: "invalid character \(GoJSONSyntax.quoted(byte)) \(context)")
        }

        static let eof = Failure(message: "unexpected EOF")

        mutating func next() throws(Failure) -> UInt8 {
            guard let byte = current else { throw Self.eof }
            position += 1
            return byte
        }

        mutating func value() throws(Failure) -> String {
            guard let byte = current else { throw Self.eof }
            switch byte {
            case UInt8(ascii: "{"): position += 1; try object(); return "object"
            case UInt8(ascii: "["): position += 1; try array(); return "array"
            case UInt8(ascii: "\""): position += 1; try string(); return "string"
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number(); return "number"
            case UInt8(ascii: "t"): try literal("true"); return "bool"
            case UInt8(ascii: "f"): try literal("false"); return "bool"
            case UInt8(ascii: "n"): try literal("null"); return "null"
            default: throw invalid(byte, "looking for beginning of value")
            }
        }

        mutating func object() throws(Failure) {
            skipSpace()
            if try peekRequired() == UInt8(ascii: "}") { position += 1; return }
            while true {
                let start = try next()
                guard start == UInt8(ascii: "\"") else { throw invalid(start, "looking for beginning of object key string") }
                try string()
                skipSpace()
                let colon = try next()
                guard colon == UInt8(ascii: ":") else { throw invalid(colon, "after object key") }
                skipSpace()
                _ = try value()
                skipSpace()
                let after = try next()
                if after == UInt8(ascii: "}") { return }
                guard after == UInt8(ascii: ",") else { throw invalid(after, "after object key:value pair") }
                skipSpace()
            }
        }

        mutating func array() throws(Failure) {
            skipSpace()
            if try peekRequired() == UInt8(ascii: "]") { position += 1; return }
            while true {
                _ = try value()
                skipSpace()
                let after = try next()
                if after == UInt8(ascii: "]") { return }
                guard after == UInt8(ascii: ",") else { throw invalid(after, "after array element") }
                skipSpace()
            }
        }

        mutating func peekRequired() throws(Failure) -> UInt8 {
            guard let byte = current else { throw Self.eof }
            return byte
        }

        mutating func string() throws(Failure) {
            while true {
                let byte = try next()
                switch byte {
                case UInt8(ascii: "\""): return
                case UInt8(ascii: "\\"):
                    let escape = try next()
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
                         UInt8(ascii: "r"), UInt8(ascii: "t"):
                        break
                    case UInt8(ascii: "u"):
                        for _ in 0..<4 {
                            let hex = try next()
                            guard isHex(hex) else { throw invalid(hex, "in \\u hexadecimal character escape") }
                        }
                    default: throw invalid(escape, "in string escape code")
                    }
                case 0..<0x20: throw invalid(byte, "in string literal")
                default: break
                }
            }
        }

        func isHex(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
        }

        func isDigit(_ byte: UInt8?) -> Bool { byte.map { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } ?? false }

        /// Go's number grammar; what follows a complete number is its container's business.
        mutating func number() throws(Failure) {
            if current == UInt8(ascii: "-") {
                position += 1
                let byte = try peekRequired()
                guard isDigit(byte) else { throw invalid(byte, "in numeric literal") }
            }
            if current == UInt8(ascii: "0") {
                position += 1
            } else {
                while isDigit(current) { position += 1 }
            }
            if current == UInt8(ascii: ".") {
                position += 1
                let byte = try peekRequired()
                guard isDigit(byte) else { throw invalid(byte, "after decimal point in numeric literal") }
                while isDigit(current) { position += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                let byte = try peekRequired()
                guard isDigit(byte) else { throw invalid(byte, "in exponent of numeric literal") }
                while isDigit(current) { position += 1 }
            }
        }

        mutating func literal(_ word: String) throws(Failure) {
            let expected = Array(word.utf8)
            position += 1
            for letter in expected.dropFirst() {
                let byte = try next()
                guard byte == letter else {
                    throw invalid(byte, "in literal \(word) (expecting \(GoJSONSyntax.quoted(letter)))")
                }
            }
        }
    }

    /// Go's quoteChar: the character in single quotes, escaped as strconv.Quote escapes it.
    static func quoted(_ byte: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "'"): return #"'\''"#
        case UInt8(ascii: "\""): return #"'"'"#
        case 0x07: return #"'\a'"#
        case 0x08: return #"'\b'"#
        case 0x0c: return #"'\f'"#
        case 0x0a: return #"'\n'"#
        case 0x0d: return #"'\r'"#
        case 0x09: return #"'\t'"#
        case 0x0b: return #"'\v'"#
        case 0x5c: return #"'\\'"#
        case 0..<0x20, 0x7f: return "'\\x\(String(byte, radix: 16).count == 1 ? "0" : "")\(String(byte, radix: 16))'"
        case 0x80...: return "'\(Character(UnicodeScalar(byte)))'"
        default: return "'\(Character(UnicodeScalar(byte)))'"
        }
    }
}
