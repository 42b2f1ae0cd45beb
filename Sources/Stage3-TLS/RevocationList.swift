import SwiftASN1

/// `--client-crl-file` / `--peer-crl-file`: the serial numbers an X.509 certificate revocation
/// list (RFC 5280 §5, PEM or DER) revokes. As etcd does, a certificate presented whose serial is
/// listed is refused; the list's own signature is not checked (etcd trusts the file as given,
/// like the CA file beside it).
struct RevocationList: Sendable, Equatable {
    /// Serial numbers, as their DER INTEGER content bytes (what `Certificate.SerialNumber` holds).
    var revokedSerials: Set<[UInt8]> = []

    /// A list that revokes nothing.
    init() {}

    /// Parses a CRL: PEM (`-----BEGIN X509 CRL-----`, any number of them) or DER.
    init(bytes: [UInt8]) throws(TLSSetupError) {
        if let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN") {
            let documents: [PEMDocument]
            do { documents = try PEMDocument.parseMultiple(pemString: text) } catch {
                throw TLSSetupError(description: "not a PEM certificate revocation list (\(error))")
            }
            guard !documents.isEmpty, documents.allSatisfy({ $0.discriminator == "X509 CRL" }) else {
                throw TLSSetupError(description: "expected -----BEGIN X509 CRL----- blocks (make one with openssl ca -gencrl)")
            }
            for document in documents { try add(der: document.derBytes) }
        } else {
            try add(der: bytes)
        }
    }

    // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }
    // TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature, issuer, thisUpdate,
    //     nextUpdate OPTIONAL, revokedCertificates SEQUENCE OF SEQUENCE { userCertificate
    //     INTEGER, revocationDate, crlEntryExtensions OPTIONAL } OPTIONAL, [0] crlExtensions OPTIONAL }
    private mutating func add(der: [UInt8]) throws(TLSSetupError) {
        let malformed = TLSSetupError(description: "not an X.509 certificate revocation list (RFC 5280 CertificateList)")
        guard let root = try? DER.parse(der), case .constructed(let list) = root.content, root.identifier == .sequence,
            let tbs = list.first(where: { _ in true }), case .constructed(let fields) = tbs.content
        else { throw malformed }
        var rest = Array(fields)[...]
        if rest.first?.identifier == .integer { rest = rest.dropFirst() }  // version
        guard rest.count >= 3 else { throw malformed }
        rest = rest.dropFirst(3)  // signature, issuer, thisUpdate
        if let next = rest.first, next.identifier == .utcTime || next.identifier == .generalizedTime { rest = rest.dropFirst() }
        guard let revoked = rest.first, revoked.identifier == .sequence, case .constructed(let entries) = revoked.content else {
            return  // no revokedCertificates: nothing is revoked
        }
        for entry in entries {
            guard case .constructed(let parts) = entry.content, let serial = parts.first(where: { _ in true }),
                serial.identifier == .integer, case .primitive(let bytes) = serial.content
            else { throw malformed }
            revokedSerials.insert(Array(bytes))
        }
    }
}
