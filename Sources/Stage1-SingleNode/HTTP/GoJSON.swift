/// Writes JSON byte for byte as Go's `encoding/json` did for the original server: compact,
/// fields in declaration order, and `<`, `>`, `&`, U+2028 and U+2029 escaped.
struct GoJSON {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func number<T: BinaryInteger>(_ value: T) {
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": raw(#"\""#)
            case "\\": raw(#"\\"#)
            case "\n": raw(#"\n"#)
            case "\r": raw(#"\r"#)
            case "\t": raw(#"\t"#)
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                unicodeEscape(scalar.value)
            case _ where scalar.value < 0x20:
                unicodeEscape(scalar.value)
            default:
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func unicodeEscape(_ value: UInt32) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        raw(#"\u"#)
        for shift in stride(from: 12, through: 0, by: -4) {
            bytes.append(hex[Int((value >> UInt32(shift)) & 0xF)])
        }
    }
}

/// The v1 wire encodings of responses, listings, errors and counters.
enum V1JSON {
    /// One response object; `ttl` is computed against `now`, truncated, and omitted below 1 s.
    static func encode(_ response: V1Response, now: Timestamp) -> [UInt8] {
        var json = GoJSON()
        write(response, now: now, into: &json)
        return json.bytes
    }

    /// A directory listing: always an array.
    static func encode(_ listing: [V1Response], now: Timestamp) -> [UInt8] {
        var json = GoJSON(capacity: 64 + listing.count * 96)
        json.raw("[")
        for (position, response) in listing.enumerated() {
            if position > 0 { json.raw(",") }
            write(response, now: now, into: &json)
        }
        json.raw("]")
        return json.bytes
    }

    /// `{"errorCode":N,"message":"…","cause":"…"}`, with `cause` omitted when empty.
    static func encode(_ error: StoreError) -> [UInt8] {
        var json = GoJSON()
        json.raw(#"{"errorCode":"#)
        json.number(error.code.rawValue)
        json.raw(#","message":"#)
        json.string(error.code.message)
        if !error.cause.isEmpty {
            json.raw(#","cause":"#)
            json.string(error.cause)
        }
        json.raw("}")
        return json.bytes
    }

    /// The store counters served at `/stats`.
    static func encode(_ stats: StoreStats) -> [UInt8] {
        var json = GoJSON()
        json.raw(#"{"gets":"#)
        json.number(stats.gets)
        json.raw(#","sets":"#)
        json.number(stats.sets)
        json.raw(#","deletes":"#)
        json.number(stats.deletes)
        json.raw(#","testAndSets":"#)
        json.number(stats.testAndSets)
        json.raw("}")
        return json.bytes
    }

    private static func write(_ response: V1Response, now: Timestamp, into json: inout GoJSON) {
        json.raw(#"{"action":"#)
        json.string(response.action.rawValue)
        json.raw(#","key":"#)
        json.string(response.key)
        if response.isDirectory { json.raw(#","dir":true"#) }
        if !response.prevValue.isEmpty {
            json.raw(#","prevValue":"#)
            json.string(response.prevValue)
        }
        if !response.value.isEmpty {
            json.raw(#","value":"#)
            json.string(response.value)
        }
        if response.isNewKey { json.raw(#","newKey":true"#) }
        if let expiration = response.expiration {
            json.raw(#","expiration":"#)
            json.string(expiration.rfc3339)
            // Go's omitempty drops only zero: a TTL already past would print negative, which the
            // original could show for a moment; a count of seconds left is never below zero here.
            let ttl = expiration.wholeSeconds(after: now)
            if ttl > 0 && response.action != .delete {
                json.raw(#","ttl":"#)
                json.number(ttl)
            }
        }
        json.raw(#","index":"#)
        json.number(response.index)
        json.raw("}")
    }
}
