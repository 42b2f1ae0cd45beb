import Foundation
import Raft
import SingleNode

/// One listener's certificate files, as the flags name them.
public struct CertificateFiles: Sendable, Equatable {
    /// Which listener: "client" or "peer" (for messages).
    public var listener: String
    /// PEM certificate (chain) this side presents.
    public var certFile: String
    /// PEM private key of that certificate.
    public var keyFile: String
    /// PEM CA certificates to verify the other side's certificate against.
    public var caFile: String?
    /// Whether a connecting client must present a certificate signed by `caFile`.
    public var requireClientCertificate: Bool
    /// `--client-crl-file` / `--peer-crl-file`: a certificate revocation list (PEM or DER); a
    /// connecting side presenting a certificate whose serial it lists is refused.
    public var crlFile: String?
    /// `--peer-cert-allowed-cn`: a connecting side's certificate must have this Common Name.
    public var allowedCommonName: String?
    /// `--client-cert-allowed-hostname` / `--peer-cert-allowed-hostname`: a connecting side's
    /// certificate must be valid for this host name (or IP address).
    public var allowedHostname: String?
    /// `--cipher-suites`: the TLS 1.2 cipher suites offered, by Go's names; empty is the TLS
    /// library's defaults. (TLS 1.3's suites are fixed, in Go as in BoringSSL.)
    public var cipherSuites: [String] = []
    /// `--auto-tls` / `--peer-auto-tls`: the certificate is self-signed, so nobody can verify
    /// it; when dialing peers, their certificates are not verified either (as etcd does).
    public var isSelfSigned = false
    /// The flags that set these files, for messages that name the fix.
    public var flagNames: (cert: String, key: String, ca: String) {
        listener == "client"
            ? ("-clientCert/--cert-file", "-clientKey/--key-file", "-clientCAFile/--trusted-ca-file")
            : ("-serverCert/--peer-cert-file", "-serverKey/--peer-key-file", "-serverCAFile/--peer-trusted-ca-file")
    }

    /// Makes the description of one listener's files.
    public init(listener: String, certFile: String, keyFile: String, caFile: String?, requireClientCertificate: Bool) {
        self.listener = listener
        self.certFile = certFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.requireClientCertificate = requireClientCertificate
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.listener, lhs.certFile, lhs.keyFile, lhs.caFile, lhs.requireClientCertificate)
            == (rhs.listener, rhs.certFile, rhs.keyFile, rhs.caFile, rhs.requireClientCertificate)
            && (lhs.crlFile, lhs.allowedCommonName, lhs.allowedHostname) == (rhs.crlFile, rhs.allowedCommonName, rhs.allowedHostname)
            && lhs.cipherSuites == rhs.cipherSuites && lhs.isSelfSigned == rhs.isSelfSigned
    }
}

/// Which listeners use TLS, from the flags.
public struct TLSSettings: Sendable, Equatable {
    /// The client port's files; nil is plaintext.
    public var client: CertificateFiles?
    /// The peer port's files; nil is plaintext.
    public var peer: CertificateFiles?
}

/// The TLS flags: the original's single-dash names (v0.1), the v0.2 renames, and etcd 3's.
///
/// A CA file alone turns on client-certificate authentication, in the original
/// (`-clientCAFile`) and in etcd 3.4 (`--trusted-ca-file`, whose TLSInfo requires and verifies
/// client certificates when a trusted CA is set, as `--client-cert-auth` does).
public enum TLSFlags {
    /// Flag definitions to add to the daemon's flag set.
    public static let flags: [GoFlagSet.Flag] = [
        .init(["clientCert", "cert-file"], usage: "PEM certificate for the client port: turns on https"),
        .init(["clientKey", "key-file"], usage: "PEM private key of -clientCert"),
        .init(["clientCAFile", "ca-file"], usage: "PEM CA: clients must present a certificate it signed (v1 semantics)"),
        .init(["trusted-ca-file"], usage: "etcd 3: PEM CA to verify client certificates with --client-cert-auth"),
        .init(["client-cert-auth"], isBool: true, usage: "etcd 3: require client certificates signed by --trusted-ca-file"),
        .init(["serverCert", "peer-cert-file"], usage: "PEM certificate for the peer port, also presented when dialing peers"),
        .init(["serverKey", "peer-key-file"], usage: "PEM private key of -serverCert"),
        .init(["serverCAFile", "peer-ca-file"], usage: "PEM CA: peers must present a certificate it signed, and serve one (v1 semantics)"),
        .init(["peer-trusted-ca-file"], usage: "etcd 3: PEM CA that peers' certificates must chain to"),
        .init(["peer-client-cert-auth"], isBool: true, usage: "etcd 3: require peers to present certificates signed by --peer-trusted-ca-file"),
        .init(["client-crl-file"], usage: "etcd 3: a certificate revocation list: clients presenting a revoked certificate are refused"),
        .init(["peer-crl-file"], usage: "etcd 3: a certificate revocation list: peers presenting a revoked certificate are refused"),
        .init(["client-cert-allowed-hostname"], usage: "etcd 3: clients' certificates must be valid for this host name"),
        .init(["peer-cert-allowed-cn"], usage: "etcd 3: peers' certificates must have this Common Name"),
        .init(["peer-cert-allowed-hostname"], usage: "etcd 3: peers' certificates must be valid for this host name"),
        .init(["auto-tls"], isBool: true, usage: "etcd 3: TLS on the client port with a self-signed certificate made at first start (clients skip verification)"),
        .init(["peer-auto-tls"], isBool: true, usage: "etcd 3: TLS between peers with self-signed certificates, unverified"),
        .init(["self-signed-cert-validity"], default: "1", usage: "etcd 3.5: years a self-signed certificate made by --auto-tls or --peer-auto-tls is valid"),
        .init(["cipher-suites"], usage: "etcd 3: comma-separated TLS 1.2 cipher suites (Go's names) for both ports; empty: the defaults"),
    ]

    /// Reads the TLS flags; inconsistent combinations are errors that name the fix.
    public static func settings(from values: [String: String]) throws(V1Flags.InvalidValue) -> TLSSettings {
        TLSSettings(
            client: try restricted(listener(
                "client", values: values, cert: "clientCert", key: "clientKey", v1CA: "clientCAFile", v3CA: "trusted-ca-file",
                v3Auth: "client-cert-auth"), values: values, crl: "client-crl-file", cn: nil, hostname: "client-cert-allowed-hostname"),
            peer: try restricted(listener(
                "peer", values: values, cert: "serverCert", key: "serverKey", v1CA: "serverCAFile", v3CA: "peer-trusted-ca-file",
                v3Auth: "peer-client-cert-auth"), values: values, crl: "peer-crl-file", cn: "peer-cert-allowed-cn", hostname: "peer-cert-allowed-hostname"))
    }

    /// Adds the checks on the other side's certificate and the cipher suites; each needs TLS
    /// on its port, and the certificate checks need certificates to be asked for.
    private static func restricted(
        _ files: CertificateFiles?, values: [String: String], crl: String, cn: String?, hostname: String
    ) throws(V1Flags.InvalidValue) -> CertificateFiles? {
        func given(_ flag: String?) -> String? { flag.flatMap { values[$0] }.flatMap { $0.isEmpty ? nil : $0 } }
        let suites = (values["cipher-suites"] ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for suite in suites where CipherSuites.byGoName[suite] == nil {
            throw V1Flags.InvalidValue(description: CipherSuites.refusal(suite))
        }
        let checks = [crl, cn, hostname].compactMap { $0 }.filter { given($0) != nil }
        guard var files else {
            if let first = checks.first {
                throw V1Flags.InvalidValue(description: "--\(first) checks the certificates the other side presents, but this port has no TLS: add its certificate and key flags")
            }
            return nil
        }
        if let first = checks.first, !files.requireClientCertificate {
            let auth = files.listener == "client" ? "--client-cert-auth" : "--peer-client-cert-auth"
            throw V1Flags.InvalidValue(description: "--\(first) checks the other side's certificate, which is not asked for: add \(auth) and its trusted CA file")
        }
        files.crlFile = given(crl)
        files.allowedCommonName = given(cn)
        files.allowedHostname = given(hostname)
        if let cnFlag = cn, files.allowedCommonName != nil, files.allowedHostname != nil {
            throw V1Flags.InvalidValue(description: "--\(cnFlag) and --\(hostname) are mutually exclusive: give one")
        }
        files.cipherSuites = suites
        return files
    }

    private static func listener(
        _ name: String, values: [String: String], cert: String, key: String, v1CA: String, v3CA: String, v3Auth: String
    ) throws(V1Flags.InvalidValue) -> CertificateFiles? {
        func given(_ flag: String) -> String? { values[flag].flatMap { $0.isEmpty ? nil : $0 } }
        let certFile = given(cert), keyFile = given(key)
        let v1CAFile = given(v1CA), v3CAFile = given(v3CA)
        let auth = values[v3Auth] == "true"
        if v1CAFile != nil, v3CAFile != nil, v1CAFile != v3CAFile {
            throw V1Flags.InvalidValue(description: "-\(v1CA) and --\(v3CA) name different files: give one CA file")
        }
        let caFile = v1CAFile ?? v3CAFile
        let probe = CertificateFiles(listener: name, certFile: "", keyFile: "", caFile: nil, requireClientCertificate: false)
        let names = probe.flagNames
        switch (certFile, keyFile) {
        case (nil, nil):
            if caFile != nil || auth {
                throw V1Flags.InvalidValue(description:
                    "\(name) TLS: a CA file or client-certificate auth was given without a certificate and key; TLS on the \(name) port needs \(names.cert) FILE and \(names.key) FILE (and \(names.ca) FILE to verify the other side), or none of them")
            }
            return nil
        case (.some, nil):
            throw V1Flags.InvalidValue(description: "\(name) TLS: \(names.cert) was given without \(names.key): give the private key of that certificate too")
        case (nil, .some):
            throw V1Flags.InvalidValue(description: "\(name) TLS: \(names.key) was given without \(names.cert): give the certificate that key belongs to too")
        case (let certFile?, let keyFile?):
            if auth && caFile == nil {
                throw V1Flags.InvalidValue(description: "\(name) TLS: --\(v3Auth) needs --\(v3CA) FILE, the CA that client certificates must chain to")
            }
            // A CA file means "require and verify" in v1 and in etcd 3.4 alike (its TLSInfo asks
            // for certificates when TrustedCAFile is set or --client-cert-auth is given): a peer
            // port given only --peer-trusted-ca-file must not accept any client at all.
            return CertificateFiles(
                listener: name, certFile: certFile, keyFile: keyFile, caFile: caFile, requireClientCertificate: caFile != nil || auth)
        }
    }
}
