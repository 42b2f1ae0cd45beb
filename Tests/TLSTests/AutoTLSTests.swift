import Foundation
import Testing
import X509

@testable import TLS

@Suite("Self-signed certificates for --auto-tls", .timeLimit(.minutes(3)))
struct AutoTLSTests {
    @Test("Made once with a private key, reused while valid, made again when it would expire within a day")
    func reuseAndRenewal() throws {
        let directory = NSTemporaryDirectory() + "autotls-\(UUID().uuidString)/fixtures/client"
        defer { try? FileManager.default.removeItem(atPath: String(directory.dropLast("/fixtures/client".count))) }
        let yearAgo = Date().addingTimeInterval(-365 * 86400 + 3600)  // expires within the hour
        let first = try AutoTLS.files(directory: directory, hosts: ["127.0.0.1", "localhost"], validityYears: 1, now: yearAgo)
        let mode = try #require(FileManager.default.attributesOfItem(atPath: first.key)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let old = try Certificate(pemEncoded: String(contentsOfFile: first.cert, encoding: .utf8))
        let renewed = try AutoTLS.files(directory: directory, hosts: ["127.0.0.1"], validityYears: 1)
        let new = try Certificate(pemEncoded: String(contentsOfFile: renewed.cert, encoding: .utf8))
        #expect(new.serialNumber != old.serialNumber)
        #expect(new.notValidAfter > Date().addingTimeInterval(300 * 86400))
        let reused = try AutoTLS.files(directory: directory, hosts: ["127.0.0.1"], validityYears: 1)
        #expect(try Certificate(pemEncoded: String(contentsOfFile: reused.cert, encoding: .utf8)).serialNumber == new.serialNumber)
    }
}
