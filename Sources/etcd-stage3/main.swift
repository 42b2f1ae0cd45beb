// Stage 3 on its own: Stage 2's cluster with TLS for clients and peers and client-certificate
// authentication; no v3 API. `swift run etcd-stage3 -clientCert … -clientKey … -clientCAFile …`.
import Logging
import Raft
import SingleNode
import TLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let program = "etcd-stage3"
let values = DaemonCommand.begin(
    program: program, stage: 3, flagSet: GoFlagSet(DaemonConfiguration.flagSet.flags + TLSFlags.flags))
let logger = Logger(label: program)
var configuration: DaemonConfiguration
let clientSetup: ConnectionSetup?
do {
    configuration = try DaemonConfiguration.from(values.filter { !DaemonConfiguration.isTLSFlag($0.key) })
    let (tls, notes) = try TLSSettings.daemon(
        values, dataDirectory: configuration.server.dataDirectory, clientHosts: configuration.clientListeners.map(\.host),
        peerHosts: configuration.server.peerListeners.map(\.host))
    for note in notes { logger.notice("\(note)") }
    configuration.advertiseTLS(tls)
    // etcd's words for a peer URL served without TLS beside client-certificate auth.
    if tls.peer?.requireClientCertificate == true {
        for listener in configuration.server.peerListeners where listener.plaintext {
            logger.warning("scheme is HTTP while --peer-client-cert-auth is enabled; ignoring client cert auth for this URL",
                           metadata: ["peer-url": "http://\(listener.host):\(listener.port)"])
        }
    }
    // Certificates are read and checked now, so a bad file stops the daemon before it serves.
    clientSetup = try tls.client.map {
        ClientTLS.setup(try CertificateSource($0, applicationProtocols: ["http/1.1"], logger: logger), logger: logger)
    }
    configuration.server.peerSecurity = try tls.peer.map { PeerTLS.security(try CertificateSource($0, logger: logger), logger: logger) }
} catch {
    DaemonCommand.fail(program, error)
}
do { try DataDirectory.prepare(configuration, logger: logger) } catch { DaemonCommand.fail("etcd-stage3", error) }
do {
    try await V1ClusterDaemon.run(configuration, clientSetup: clientSetup, stopSignals: StopSignals(SIGINT, SIGTERM), logger: logger)
} catch {
    logger.critical("cannot serve: \(error)")
    exit(1)
}
