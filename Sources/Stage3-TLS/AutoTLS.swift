import Crypto
import Foundation
import Raft
#if canImport(Glibc)
import Glibc
#endif
import SwiftASN1
import X509
import RaftDisk

/// `--auto-tls` and `--peer-auto-tls`: TLS without a CA, as etcd offers it. At its first start a
/// member makes a self-signed certificate (ECDSA P-256, for the hosts of its listen URLs) and
/// keeps it in `<data-dir>/fixtures/client` or `fixtures/peer`; later starts reuse it. Traffic
/// is encrypted, but nobody is authenticated: clients must skip verification
/// (`etcdctl --insecure-skip-tls-verify`), and peers using it accept each other's certificates
/// unverified, as etcd's do. For authentication, make certificates with a CA instead.
public enum AutoTLS {
    /// etcd 3.5's `--self-signed-cert-validity` default: one year.
    public static let defaultValidityYears = 1

    /// The certificate and key files for one listener, made now if they do not exist yet.
    public static func files(
        directory: String, hosts: [String], validityYears: Int, now: Date = Date()
    ) throws(TLSSetupError) -> (cert: String, key: String) {
        let certPath = directory + "/cert.pem", keyPath = directory + "/key.pem"
        let manager = FileManager.default
        // Reused while it has more than a day left; an expiring one is made again (nobody
        // verifies it, so nobody notices the change, and an expired one would stop the start).
        if manager.fileExists(atPath: keyPath), let pem = try? String(contentsOfFile: certPath, encoding: .utf8),
            let existing = try? Certificate(pemEncoded: pem), existing.notValidAfter > now + 86400
        {
            return (certPath, keyPath)
        }
        do {
            // Every directory made on the way 0700, the data directory's own among them.
            try PosixFileSystem().createDirectory(directory)
            let key = P256.Signing.PrivateKey()
            let name = try DistinguishedName { OrganizationName("etcd") }
            let names: [GeneralName] = Set(hosts).sorted().map { host in
                if let address = IPv4Address(host) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))) }
                return .dnsName(host)
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
                notValidBefore: now - 60, notValidAfter: now + Double(validityYears) * 365 * 86400,
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                    try ExtendedKeyUsage([.serverAuth, .clientAuth])
                    SubjectAlternativeNames(names)
                },
                issuerPrivateKey: .init(key))
            // The key first, created 0600 (never readable by others, not even for a moment), so
            // a certificate never exists without it.
            guard Self.write(Array(key.pemRepresentation.utf8), to: keyPath, mode: 0o600),
                Self.write(Array(try certificate.serializeAsPEM().pemString.utf8), to: certPath, mode: 0o644)
            else {
                throw TLSSetupError(description: "cannot write a self-signed certificate into \(directory): check that this user may write there")
            }
        } catch let error as TLSSetupError {
            throw error
        } catch {
            throw TLSSetupError(description: "cannot make a self-signed certificate in \(directory): \(error)")
        }
        return (certPath, keyPath)
    }

    /// Replaces `path` with `bytes`, created with `mode` from the start.
    static func write(_ bytes: [UInt8], to path: String, mode: mode_t) -> Bool {
        unlink(path)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) } == bytes.count
    }

    /// The four bytes of a dotted IPv4 address, or nil for a name (or IPv6, kept as a name).
    static func IPv4Address(_ host: String) -> [UInt8]? {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
        guard parts.count == 4, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.compactMap { $0 }
    }
}
