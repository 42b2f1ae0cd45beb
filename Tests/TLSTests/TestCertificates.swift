import Crypto
import Foundation
import SwiftASN1
import X509

/// Certificates for tests, made in memory with swift-certificates and written as PEM files to
/// a fresh directory: a CA, certificates it signs (server, client, expired, server-only), and a
/// second CA that nobody trusts.
struct TestPKI {
    let directory: String
    let now = Date()

    struct Authority {
        var name: DistinguishedName
        var key: P256.Signing.PrivateKey
        var certificate: Certificate
    }

    let ca: Authority
    let otherCA: Authority

    init() throws {
        directory = NSTemporaryDirectory() + "tls-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        ca = try Self.authority("etcd test CA", now: now)
        otherCA = try Self.authority("someone else's CA", now: now)
        try write("ca.pem", ca.certificate.serializeAsPEM().pemString)
        try write("other-ca.pem", otherCA.certificate.serializeAsPEM().pemString)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { directory + "/" + name }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
    }

    static func authority(_ commonName: String, now: Date) throws -> Authority {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86400, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                KeyUsage(keyCertSign: true)
            },
            issuerPrivateKey: .init(key))
        return Authority(name: name, key: key, certificate: certificate)
    }

    enum Usage { case both, serverOnly, clientOnly }

    /// Issues a certificate and writes `<name>.pem` and `<name>-key.pem`; returns the paths.
    @discardableResult
    func issue(
        _ name: String, commonName: String? = nil, by authority: Authority? = nil, usage: Usage = .both,
        hosts: [String] = ["127.0.0.1", "localhost"], validFrom: TimeInterval = -3600, validFor: TimeInterval = 86400
    ) throws -> (cert: String, key: String) {
        let issuer = authority ?? ca
        let key = P256.Signing.PrivateKey()
        let usages: [ExtendedKeyUsage.Usage] =
            switch usage {
            case .both: [.serverAuth, .clientAuth]
            case .serverOnly: [.serverAuth]
            case .clientOnly: [.clientAuth]
            }
        let names: [GeneralName] = hosts.map { host in
            let octets = host.split(separator: ".").compactMap { UInt8($0) }
            return octets.count == 4 ? .ipAddress(ASN1OctetString(contentBytes: ArraySlice(octets))) : .dnsName(host)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now + validFrom, notValidAfter: now + validFrom + validFor,
            issuer: issuer.name, subject: try DistinguishedName { CommonName(commonName ?? name) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                SubjectAlternativeNames(names)
                try ExtendedKeyUsage(usages)
            },
            issuerPrivateKey: .init(issuer.key))
        try write(name + ".pem", certificate.serializeAsPEM().pemString)
        try write(name + "-key.pem", key.pemRepresentation)
        return (path(name + ".pem"), path(name + "-key.pem"))
    }
}
