import Foundation
import NIOSSL
import SwiftASN1
import X509

/// Verifies the certificate the other side of a connection presented, and when it is refused,
/// says why in words an operator can act on. BoringSSL's own verdict is one word
/// (CERTIFICATE_VERIFY_FAILED), and clients such as etcdctl only report "context deadline
/// exceeded", so the server's log line is the only place the cause can be read.
///
/// The chain is built and checked by swift-certificates' `Verifier` (RFC 5280: signatures,
/// validity dates, CA constraints); on top of it, the certificate must be meant for its use
/// (extended key usage, as Go's TLS insists) and, for a server, name the host dialed.
struct CertificateCheck: Sendable {
    enum Purpose: Sendable {
        /// A client proving who it is to a server.
        case clientAuthentication
        /// A server, dialed at `host`.
        case serverAuthentication(host: String)
    }

    var roots: [Certificate]
    var purpose: Purpose
    /// Serials refused even when the chain verifies (`--client-crl-file`, `--peer-crl-file`).
    var revoked: Set<[UInt8]> = []
    /// The Common Name the leaf must carry (`--peer-cert-allowed-cn`).
    var allowedCommonName: String? = nil
    /// The host the leaf must be valid for (`--client-cert-allowed-hostname`, `--peer-cert-allowed-hostname`).
    var allowedHostname: String? = nil

    /// nil if `presented` (leaf first) is acceptable now; otherwise the reason it is not.
    func refusal(of presented: [NIOSSLCertificate], now: Date = Date()) async -> String? {
        let certificates: [Certificate]
        do {
            certificates = try presented.map { try Certificate(derEncoded: $0.toDERBytes()) }
        } catch {
            return "the certificate presented cannot be parsed (\(error))"
        }
        guard let leaf = certificates.first else { return "no certificate was presented" }
        // The common causes first, in plain words; the verifier's own reasons cover the rest.
        if now > leaf.notValidAfter { return "the certificate for \(leaf.subject) expired at \(Credentials.stamp(leaf.notValidAfter))" }
        if now < leaf.notValidBefore { return "the certificate for \(leaf.subject) is not valid before \(Credentials.stamp(leaf.notValidBefore))" }
        if let usage = Self.usageProblem(leaf, purpose) { return usage }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy()
            KeyUsageAccepted()
            if case .serverAuthentication(let host) = purpose {
                ServerIdentityPolicy(serverHostname: Self.isIPAddress(host) ? nil : host, serverIP: Self.isIPAddress(host) ? host : nil)
            }
        }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(certificates.dropFirst())))
        switch result {
        case .validCertificate:
            // As etcd: every certificate presented is looked up in the revocation list.
            if let revoked = certificates.first(where: { self.revoked.contains(Array($0.serialNumber.bytes)) }) {
                let serial = revoked.serialNumber.bytes.map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
                return "transport: certificate serial \(serial) revoked (\(revoked.subject)), as the revocation list says"
            }
            return await identityProblem(leaf)
        case .couldNotValidate(let failures) where failures.isEmpty:
            let trusted = roots.map { "\($0.subject)" }.joined(separator: "; ")
            return "unknown CA: the certificate for \(leaf.subject) was issued by \(leaf.issuer), which does not chain to the trusted CA (\(trusted))"
        case .couldNotValidate(let failures):
            let reasons = failures.map { "\($0.policyFailureReason)" }.joined(separator: "; ")
            if case .serverAuthentication(let host) = purpose, reasons.contains("SAN") {
                return "wrong host: the certificate for \(leaf.subject) does not name \(host) (\(reasons)); issue it with subjectAltName=\(Self.isIPAddress(host) ? "IP" : "DNS"):\(host)"
            }
            return reasons
        }
    }

    /// etcd's allowed-CN and allowed-hostname rules, once the chain is trusted.
    private func identityProblem(_ leaf: Certificate) async -> String? {
        if let allowed = allowedCommonName {
            let names = leaf.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.map { "\($0.value)" }
            guard names.contains(allowed) else {
                return "client certificate authentication failed: its Common Name is \(names.first ?? "missing"), and --peer-cert-allowed-cn allows only \(allowed)"
            }
        }
        if let host = allowedHostname {
            var verifier = Verifier(rootCertificates: CertificateStore([leaf])) {
                ServerIdentityPolicy(serverHostname: Self.isIPAddress(host) ? nil : host, serverIP: Self.isIPAddress(host) ? host : nil)
            }
            guard case .validCertificate = await verifier.validate(leaf: leaf, intermediates: CertificateStore()) else {
                return "client certificate authentication failed: the certificate for \(leaf.subject) is not valid for the host name \(host) that the allowed-hostname flag requires"
            }
        }
        return nil
    }

    /// Extended key usage, checked as Go's TLS stack does: absent means any use.
    static func usageProblem(_ leaf: Certificate, _ purpose: Purpose) -> String? {
        guard let usage = try? leaf.extensions.extendedKeyUsage else { return nil }
        if usage.contains(.any) { return nil }
        switch purpose {
        case .clientAuthentication where !usage.contains(.clientAuth):
            return "the certificate for \(leaf.subject) is not for client authentication (its extended key usage lacks clientAuth): issue it with extendedKeyUsage=clientAuth"
        case .serverAuthentication where !usage.contains(.serverAuth):
            return "the certificate for \(leaf.subject) is not for server authentication (its extended key usage lacks serverAuth): issue it with extendedKeyUsage=serverAuth"
        default:
            return nil
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        host.contains(":") || (host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." })
    }
}

/// Marks extended key usage as understood (checked in `CertificateCheck.usageProblem`), so a
/// certificate that marks it critical is not refused for carrying it.
struct KeyUsageAccepted: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.extendedKeyUsage]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        .meetsPolicy
    }
}
