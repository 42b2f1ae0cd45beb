/// A wall-clock instant: nanoseconds since the Unix epoch, UTC.
///
/// The store never reads a clock. Commands carry the time at which their authority issued them,
/// and readers pass `now` in, so the same inputs always give the same state and the same bytes.
public struct Timestamp: Hashable, Comparable, Sendable, Codable {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    public var nanoseconds: Int64

    /// Makes a timestamp from nanoseconds since the Unix epoch.
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// Makes a timestamp from whole seconds since the Unix epoch.
    public init(seconds: Int64) { self.nanoseconds = seconds * 1_000_000_000 }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// This instant moved by `seconds`, or nil when the result leaves the representable range
    /// (about the years 1678 to 2262), so a huge TTL is refused instead of wrapping around.
    public func adding(seconds: Int64) -> Timestamp? {
        let (delta, overflow1) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow1 { return nil }
        let (sum, overflow2) = nanoseconds.addingReportingOverflow(delta)
        return overflow2 ? nil : Timestamp(nanoseconds: sum)
    }

    /// Whole seconds from `now` until this instant, truncated toward zero as the original's
    /// `int64(expire.Sub(now) / time.Second)`.
    public func wholeSeconds(after now: Timestamp) -> Int64 {
        (nanoseconds - now.nanoseconds) / 1_000_000_000
    }

    /// RFC 3339 with nanoseconds and trailing fractional zeros trimmed, in UTC, as Go's
    /// `time.Time` marshals to JSON: `2013-07-11T20:31:12.156146039Z`.
    ///
    /// The original printed the server's local zone; this server always prints UTC so that every
    /// member of a cluster renders the same instant the same way.
    public var rfc3339: String {
        var seconds = nanoseconds / 1_000_000_000
        var fraction = nanoseconds % 1_000_000_000
        if fraction < 0 { fraction += 1_000_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let (year, month, day) = Self.civilDate(daysSinceEpoch: days)
        var text = Self.pad(year, 4) + "-" + Self.pad(month, 2) + "-" + Self.pad(day, 2)
        text += "T" + Self.pad(secondOfDay / 3600, 2) + ":" + Self.pad(secondOfDay / 60 % 60, 2)
        text += ":" + Self.pad(secondOfDay % 60, 2)
        if fraction != 0 {
            var digits = Self.pad(fraction, 9)
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text + "Z"
    }

    /// The HTTP `Date` header form (RFC 9110 IMF-fixdate): `Fri, 27 Nov 2026 10:12:32 GMT`.
    public var httpDate: String {
        var seconds = nanoseconds / 1_000_000_000
        if nanoseconds < 0 && nanoseconds % 1_000_000_000 != 0 { seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let (year, month, day) = Self.civilDate(daysSinceEpoch: days)
        // 1970-01-01 was a Thursday.
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][Int(((days % 7) + 7) % 7)]
        let monthName = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][Int(month - 1)]
        return "\(weekday), \(Self.pad(day, 2)) \(monthName) \(Self.pad(year, 4)) \(Self.pad(secondOfDay / 3600, 2)):"
            + "\(Self.pad(secondOfDay / 60 % 60, 2)):\(Self.pad(secondOfDay % 60, 2)) GMT"
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// Howard Hinnant's days-to-civil algorithm: proleptic Gregorian calendar, no tables.
    private static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
