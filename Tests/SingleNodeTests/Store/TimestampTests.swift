import Testing
import SingleNode

@Suite("Timestamp", .timeLimit(.minutes(3)))
struct TimestampTests {
    @Test("RFC 3339 with nanoseconds, trailing zeros trimmed, as Go prints time.Time", arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"),
        (Int64(1_700_000_000_123_456_789), "2023-11-14T22:13:20.123456789Z"),
        (Int64(1_700_000_000_120_000_000), "2023-11-14T22:13:20.12Z"),
        (Int64(951_782_400_000_000_001), "2000-02-29T00:00:00.000000001Z"),
        (Int64(-1), "1969-12-31T23:59:59.999999999Z"),
    ])
    func rfc3339(nanoseconds: Int64, text: String) {
        #expect(Timestamp(nanoseconds: nanoseconds).rfc3339 == text)
    }

    @Test("Whole seconds left are truncated, as the original's ttl field")
    func truncation() {
        let expiry = Timestamp(seconds: 100)
        #expect(expiry.wholeSeconds(after: Timestamp(nanoseconds: 95_000_000_001)) == 4)
        #expect(expiry.wholeSeconds(after: Timestamp(seconds: 95)) == 5)
        #expect(expiry.wholeSeconds(after: Timestamp(nanoseconds: 99_500_000_000)) == 0)
    }

    @Test("Adding a TTL that leaves the 64-bit range yields nil instead of wrapping")
    func overflow() {
        #expect(Timestamp(seconds: 0).adding(seconds: Int64.max) == nil)
        #expect(Timestamp(seconds: 1_700_000_000).adding(seconds: 9_300_000_000) == nil)
        #expect(Timestamp(seconds: 1).adding(seconds: 2) == Timestamp(seconds: 3))
    }
}
