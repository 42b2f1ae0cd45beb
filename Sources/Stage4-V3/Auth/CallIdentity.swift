import GRPCCore
import NIOHPACK

/// Who the call being served comes from, resolved once per call from its metadata (etcd's
/// AuthInfoFromCtx): the `token` header (or `authorization`, as etcd's gateway sends it), or
/// with `--client-cert-auth` the verified client certificate's Common Name, which the client
/// port puts in `commonNameHeader` after deleting any the client sent.
///
/// Services read it as a task-local: the call gate sets it around the handler, and around the
/// body of a streaming response, which runs after the handler returns. Credentials that fail
/// (an unknown or expired token) fail only the calls that ask who called, as in etcd: a status
/// or a member list is answered whatever token comes with it.
public enum CallIdentity {
    @TaskLocal static var resolved: Result<AuthInfo?, RPCError> = .success(nil)

    /// The caller (nil: no credentials), or the error its credentials got.
    static func caller() throws(RPCError) -> AuthInfo? { try resolved.get() }

    /// Set by the client port from the TLS session, never from the client.
    static let commonNameHeader = "etcd-swift-verified-cn"

    static func token(_ metadata: Metadata) -> String? {
        metadata[stringValues: "token"].first(where: { _ in true }) ?? metadata[stringValues: "authorization"].first(where: { _ in true })
    }

    static func token(_ headers: HPACKHeaders) -> String? {
        headers.first(name: "token") ?? headers.first(name: "authorization")
    }

    static func resolve(_ metadata: Metadata, backend: V3Backend) throws(RPCError) -> AuthInfo? {
        let commonName = backend.clientCertAuth ? metadata[stringValues: commonNameHeader].first(where: { _ in true }) : nil
        do { return try backend.machine.identify(token: token(metadata), commonName: commonName) } catch { throw V3Backend.rpcError(error) }
    }

    static func resolve(_ headers: HPACKHeaders, backend: V3Backend) throws(RPCError) -> AuthInfo? {
        let commonName = backend.clientCertAuth ? headers.first(name: commonNameHeader) : nil
        do { return try backend.machine.identify(token: token(headers), commonName: commonName) } catch { throw V3Backend.rpcError(error) }
    }
}
