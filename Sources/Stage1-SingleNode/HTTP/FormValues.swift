/// Request parameters, from the URL query and a form-encoded body, as Go's `req.FormValue`
/// sees them: the body's value wins over the query's, and the first of repeated names wins.
struct FormValues: Sendable {
    private var values: [String: String] = [:]

    /// Parses a query string and, if given, a `application/x-www-form-urlencoded` body.
    /// Returns nil when either is not valid percent-encoded UTF-8.
    init?(query: Substring?, body: [UInt8]?) {
        if let body, !body.isEmpty {
            guard Self.parse(body[...], into: &values) else { return nil }
        }
        if let query, !query.isEmpty {
            guard Self.parse(Array(query.utf8)[...], into: &values) else { return nil }
        }
    }

    /// Values from multipart fields (which win, like a body) and the query string.
    init?(query: Substring?, fields: [(name: String, value: String)]) {
        for (name, value) in fields where values[name] == nil { values[name] = value }
        if let query, !query.isEmpty {
            guard Self.parse(Array(query.utf8)[...], into: &values) else { return nil }
        }
    }

    /// The value of `name`, nil when absent (an empty value is present).
    subscript(name: String) -> String? { values[name] }

    private static func parse(_ bytes: ArraySlice<UInt8>, into values: inout [String: String]) -> Bool {
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(parts[0], plusIsSpace: true),
                let value = percentDecode(parts.count > 1 ? parts[1] : [], plusIsSpace: true)
            else { return false }
            if values[name] == nil { values[name] = value }
        }
        return true
    }
}

/// Decodes `%XX` escapes (and `+` as a space in forms); nil on a bad escape or invalid UTF-8.
func percentDecode(_ bytes: some Collection<UInt8>, plusIsSpace: Bool) -> String? {
    var output: [UInt8] = []
    output.reserveCapacity(bytes.count)
    var iterator = bytes.makeIterator()
    while let byte = iterator.next() {
        switch byte {
        case UInt8(ascii: "%"):
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            output.append(high << 4 | low)
        case UInt8(ascii: "+") where plusIsSpace:
            output.append(UInt8(ascii: " "))
        default:
            output.append(byte)
        }
    }
    return String(validating: output, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// Parses a decimal integer as Go's `strconv.Atoi`/`ParseUint` do: an optional sign (signed
/// only), then digits, nothing else, and no overflow.
func parseGoInteger<T: FixedWidthInteger>(_ text: String, as type: T.Type = T.self) -> T? {
    var digits = Substring(text)
    var negative = false
    if T.isSigned, let first = digits.first, first == "+" || first == "-" {
        negative = first == "-"
        digits = digits.dropFirst()
    }
    guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
        return nil
    }
    return T(negative ? "-" + digits : String(digits))
}
