import Foundation
import Logging
import NIOCore
import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One listener's TLS contexts, rebuilt when its files change on disk, so certificates can be
/// rotated without a restart: replace the files (write new ones and rename them over the old,
/// so no reader sees half a file) and the next connection uses them. Connections already open
/// keep the certificate they were made with.
///
/// Files are looked at, at most once a second, when a connection arrives. A replacement that
/// does not load (a key that does not match, an expired certificate) is logged and ignored:
/// the listener keeps serving with what it had.
public final class CertificateSource: Sendable {
    /// What one connection is handed: contexts built from one consistent set of files.
    struct Snapshot: Sendable {
        var credentials: Credentials
        /// For accepting connections.
        var server: NIOSSLContext
        /// For dialing (peers only).
        var client: NIOSSLContext
    }

    let files: CertificateFiles
    private let applicationProtocols: [String]
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var snapshot: Snapshot
        var stamps: [FileStamp]
        var checkedAt: NIODeadline
    }

    /// Loads `files` now; a problem is an error naming the file and the fix. ALPN offers
    /// `applicationProtocols` in order of preference (the client port: `http/1.1` first, so
    /// curl speaks HTTP/1.1; gRPC clients offer only `h2` and still get it).
    public init(_ files: CertificateFiles, applicationProtocols: [String] = [], logger: Logger) throws(TLSSetupError) {
        self.files = files
        self.applicationProtocols = applicationProtocols
        self.logger = logger
        let snapshot = try Self.build(files, applicationProtocols: applicationProtocols)
        state = Mutex(State(snapshot: snapshot, stamps: Self.stamps(files), checkedAt: .now()))
    }

    /// The contexts for a new connection, after a look at the files if a second has passed.
    func current() -> Snapshot {
        let due = state.withLock { .now() - $0.checkedAt >= .seconds(1) }
        if due { reloadIfChanged() }
        return state.withLock { $0.snapshot }
    }

    /// Rebuilds the contexts if any file changed since they were loaded. Returns whether the
    /// new files are in use.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        let stamps = Self.stamps(files)
        let changed = state.withLock { state in
            state.checkedAt = .now()
            return state.stamps != stamps
        }
        guard changed else { return false }
        do {
            let snapshot = try Self.build(files, applicationProtocols: applicationProtocols)
            state.withLock {
                $0.snapshot = snapshot
                $0.stamps = stamps
            }
            logger.notice("reloaded the \(files.listener) TLS certificate", metadata: [
                "cert-file": "\(files.certFile)", "subject": "\(snapshot.credentials.leaf.subject)",
                "expires": "\(Credentials.stamp(snapshot.credentials.leaf.notValidAfter))",
            ])
            return true
        } catch {
            // Remember these stamps too: the same broken files are reported once, not per second.
            state.withLock { $0.stamps = stamps }
            logger.error("the \(files.listener) TLS files changed but cannot be used; still serving the previous certificate", metadata: ["error": "\(error)"])
            return false
        }
    }

    private static func build(_ files: CertificateFiles, applicationProtocols: [String]) throws(TLSSetupError) -> Snapshot {
        let credentials = try Credentials.load(files, now: Date())
        let chain = credentials.chain.map { NIOSSLCertificateSource.certificate($0) }
        var server = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(credentials.key))
        server.minimumTLSVersion = .tlsv12
        server.applicationProtocols = applicationProtocols
        // Closing a connection sends close_notify and waits for the client's (5 s by default)
        // while the HTTP pipeline may no longer be reading: a server that is done with a
        // connection has nothing to wait for (Go's does not wait at all).
        server.shutdownTimeout = .seconds(1)
        let suites = files.cipherSuites.compactMap { CipherSuites.byGoName[$0] }
        if !suites.isEmpty { server.cipherSuiteValues = suites }
        if files.requireClientCertificate {
            // BoringSSL asks for a certificate and refuses a handshake without one; whether the
            // one sent is good is decided by `CertificateCheck`, which can say why not.
            server.certificateVerification = .noHostnameVerification
            server.trustRoots = .certificates(credentials.authorities)
        }
        var client = TLSConfiguration.makeClientConfiguration()
        client.minimumTLSVersion = .tlsv12
        client.certificateChain = chain
        client.privateKey = .privateKey(credentials.key)
        if !suites.isEmpty { client.cipherSuiteValues = suites }
        if files.isSelfSigned {
            client.certificateVerification = .none
        } else if !credentials.authorities.isEmpty {
            client.trustRoots = .certificates(credentials.authorities)
            client.certificateVerification = .noHostnameVerification  // the host is checked by CertificateCheck
        }
        do {
            return Snapshot(credentials: credentials, server: try NIOSSLContext(configuration: server), client: try NIOSSLContext(configuration: client))
        } catch {
            let names = files.flagNames
            throw TLSSetupError(description: "\(names.cert) \(files.certFile) with \(names.key) \(files.keyFile): TLS cannot use them (\(error)); check that the key belongs to the certificate")
        }
    }

    /// What identifies a file's version: replaced files get a new inode or modification time.
    struct FileStamp: Equatable {
        var inode: UInt64
        var size: Int64
        var modified: Int
        var modifiedNanoseconds: Int
    }

    private static func stamps(_ files: CertificateFiles) -> [FileStamp] {
        ([files.certFile, files.keyFile] + [files.caFile, files.crlFile].compactMap { $0 }).map { path in
            var info = stat()
            guard stat(path, &info) == 0 else { return FileStamp(inode: 0, size: -1, modified: 0, modifiedNanoseconds: 0) }
            return FileStamp(
                inode: UInt64(info.st_ino), size: Int64(info.st_size), modified: info.st_mtim.tv_sec,
                modifiedNanoseconds: info.st_mtim.tv_nsec)
        }
    }
}
