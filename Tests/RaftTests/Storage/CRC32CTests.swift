@testable import BinaryCodec
import RaftCore
import Testing

@Suite("CRC-32C", .timeLimit(.minutes(3)))
struct CRC32CTests {
    @Test("The standard check value, and the sliced loop agrees with the byte-at-a-time definition")
    func matchesTheDefinition() {
        // The check value every CRC-32C implementation publishes (RFC 3720, appendix B.4).
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        var random = SeededRandom(seed: 42)
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 1000, 4099] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(CRC32C.checksum(bytes) == CRC32C.reference(bytes), "length \(length)")
            // Extending in two pieces gives the checksum of the whole (the WAL checks records so).
            let cut = length / 3
            #expect(CRC32C.update(CRC32C.checksum(bytes[..<cut]), bytes[cut...]) == CRC32C.reference(bytes))
        }
    }
}
