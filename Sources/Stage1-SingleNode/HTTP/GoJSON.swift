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
        var text = text
        text.withUTF8 { utf8 in
            var position = 0
            while position < utf8.count {
                let byte = utf8[position]
                switch byte {
                case UInt8(ascii: "\""): raw(#"\""#)
                case UInt8(ascii: "\\"): raw(#"\\"#)
                case UInt8(ascii: "\n"): raw(#"\n"#)
                case UInt8(ascii: "\r"): raw(#"\r"#)
                case UInt8(ascii: "\t"): raw(#"\t"#)
                case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"), 0..<0x20:
                    unicodeEscape(UInt32(byte))
                // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
                case 0xE2 where position + 2 < utf8.count && utf8[position + 1] == 0x80
                    && (utf8[position + 2] == 0xA8 || utf8[position + 2] == 0xA9):
                    unicodeEscape(utf8[position + 2] == 0xA8 ? 0x2028 : 0x2029)
                    position += 2
                default:
                    bytes.append(byte)
                }
                position += 1
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func unicodeEscape(_ value: UInt32) {
        raw(#"\u"#)
        for shift in stride(from: 12, through: 0, by: -4) {
            let digit = UInt8((value >> UInt32(shift)) & 0xF)
            bytes.append(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
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
