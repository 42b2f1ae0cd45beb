import Foundation
import NIOSSL
import X509

/// A TLS setup problem found before serving: the message names the file, what is wrong with
/// it and what to do.
public struct TLSSetupError: Error, CustomStringConvertible {
    /// What is wrong and the fix.
    public var description: String
}

/// One listener's certificate, key and CA, read and checked: the certificate parses, the key
/// belongs to it, it is valid now, the CA file holds certificates.
struct Credentials: Sendable {
    var chain: [NIOSSLCertificate]
    var key: NIOSSLPrivateKey
    /// The CA certificates, for BoringSSL (the names a server sends when asking for a client
    /// certificate) and for our own verification (`CertificateCheck`).
    var authorities: [NIOSSLCertificate]
    var roots: [Certificate]
    /// The leaf certificate, parsed, for messages and expiry.
    var leaf: Certificate
    /// What the CRL file revokes (empty without one).
    var revocations = RevocationList()

    /// Reads and checks `files` as of `now`.
    static func load(_ files: CertificateFiles, now: Date) throws(TLSSetupError) -> Credentials {
        let names = files.flagNames
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certFile)
        } catch {
            throw TLSSetupError(description: "\(names.cert) \(files.certFile): cannot read a PEM certificate (\(error)); give the path of the certificate file, readable by this process")
        }
        guard let first = chain.first else {
            throw TLSSetupError(description: "\(names.cert) \(files.certFile): the file holds no certificate; give a PEM file with -----BEGIN CERTIFICATE-----")
        }
        let key: NIOSSLPrivateKey
        let keyPEM: String
        do {
            keyPEM = try String(contentsOfFile: files.keyFile, encoding: .utf8)
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        } catch {
            throw TLSSetupError(description: "\(names.key) \(files.keyFile): cannot read a PEM private key (\(error)); give the path of the unencrypted key file, readable by this process")
        }
        let leaf: Certificate
        do {
            leaf = try Certificate(derEncoded: first.toDERBytes())
        } catch {
            throw TLSSetupError(description: "\(names.cert) \(files.certFile): not an X.509 certificate this server can read (\(error))")
        }
        // The key must be the certificate's: otherwise every handshake would fail, far from
        // the cause. Key types swift-certificates cannot parse are left to BoringSSL, which
        // makes the same check when the context is built.
        if let parsed = try? Certificate.PrivateKey(pemEncoded: keyPEM), parsed.publicKey != leaf.publicKey {
            throw TLSSetupError(description: "\(names.key) \(files.keyFile) is not the key of the certificate in \(files.certFile) (\(leaf.subject)): give the key that certificate was issued for")
        }
        if now > leaf.notValidAfter {
            throw TLSSetupError(description: "\(names.cert) \(files.certFile): the certificate for \(leaf.subject) expired at \(stamp(leaf.notValidAfter)); issue a new one and replace the file")
        }
        if now < leaf.notValidBefore {
            throw TLSSetupError(description: "\(names.cert) \(files.certFile): the certificate for \(leaf.subject) is not valid before \(stamp(leaf.notValidBefore)); check this machine's clock or the certificate's dates")
        }
        var authorities: [NIOSSLCertificate] = []
        var roots: [Certificate] = []
        if let caFile = files.caFile {
            do {
                authorities = try NIOSSLCertificate.fromPEMFile(caFile)
                roots = try authorities.map { try Certificate(derEncoded: $0.toDERBytes()) }
            } catch {
                throw TLSSetupError(description: "\(names.ca) \(caFile): cannot read PEM CA certificates (\(error)); give the CA certificate file, readable by this process")
            }
            guard !roots.isEmpty else {
                throw TLSSetupError(description: "\(names.ca) \(caFile): the file holds no certificate; give the PEM certificate of the CA that signs the other side's certificates")
            }
        }
        var credentials = Credentials(chain: chain, key: key, authorities: authorities, roots: roots, leaf: leaf)
        if let crlFile = files.crlFile {
            let flag = files.listener == "client" ? "--client-crl-file" : "--peer-crl-file"
            guard let bytes = FileManager.default.contents(atPath: crlFile) else {
                throw TLSSetupError(description: "\(flag) \(crlFile): cannot read it; give the path of the revocation list, readable by this process")
            }
            do throws(TLSSetupError) { credentials.revocations = try RevocationList(bytes: Array(bytes)) } catch {
                throw TLSSetupError(description: "\(flag) \(crlFile): \(error.description)")
            }
        }
        return credentials
    }

    static func stamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
