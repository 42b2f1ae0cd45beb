import Dispatch
import EtcdAPI
import Foundation
import GRPCCore

/// etcd's Auth service: every call goes through the log (`AuthRequest`) and is answered from
/// the auth store as it is at that point, on behalf of the caller (`CallIdentity`), who must be
/// root for all but a login and reading one's own user and roles.
struct AuthService: Etcdserverpb_Auth.SimpleServiceProtocol {
    let backend: V3Backend

    /// Proposes `request` and returns the store's answer and the revision to report.
    private func apply(_ request: AuthRequest) async throws -> (AuthResponse, Etcdserverpb_ResponseHeader) {
        let applied = try await backend.write(.auth(request), from: .client(try CallIdentity.caller()))
        guard case .auth(let answer) = applied.response else { throw KVCalls.unexpected }
        return (answer, backend.header(revision: applied.revision))
    }

    func authEnable(request: Etcdserverpb_AuthEnableRequest, context: ServerContext) async throws -> Etcdserverpb_AuthEnableResponse {
        var response = Etcdserverpb_AuthEnableResponse()
        response.header = try await apply(.enable).1
        return response
    }

    func authDisable(request: Etcdserverpb_AuthDisableRequest, context: ServerContext) async throws -> Etcdserverpb_AuthDisableResponse {
        var response = Etcdserverpb_AuthDisableResponse()
        response.header = try await apply(.disable).1
        return response
    }

    /// A login, as etcd's: the password is checked here against the store as this member holds
    /// it (after catching up with the leader), then the login goes through the log carrying the
    /// auth revision it was checked at; if users or roles changed in between, it is checked again.
    func authenticate(request: Etcdserverpb_AuthenticateRequest, context: ServerContext) async throws -> Etcdserverpb_AuthenticateResponse {
        try await backend.confirmLinearizable()
        for _ in 0..<5 {
            let found = backend.machine.read { store -> Result<(AuthStore.User, UInt64), V3Error> in
                guard store.auth.isEnabled else { return .failure(.authNotEnabled) }
                guard let user = store.auth.users[request.name] else { return .failure(.authFailed) }
                if user.noPassword { return .failure(.noPasswordUser) }
                return .success((user, store.auth.revision))
            }
            let (user, revision) = try found.mapError(V3Backend.rpcError).get()
            guard try await Self.offLoop({ Passwords.matches(request.password, hash: user.passwordHash) }) else {
                throw V3Backend.rpcError(V3Error.authFailed)
            }
            do {
                let (answer, header) = try await apply(.authenticate(name: request.name, checkedRevision: revision, tokenPrefix: SimpleTokens.newPrefix()))
                guard case .token(let token) = answer else { throw KVCalls.unexpected }
                var response = Etcdserverpb_AuthenticateResponse()
                response.header = header
                response.token = token
                return response
            } catch let error as RPCError where error.message == V3Error.authOldRevision.message {
                continue  // users or roles changed since the check: check again
            }
        }
        throw V3Backend.rpcError(V3Error.authOldRevision)
    }

    func userAdd(request: Etcdserverpb_AuthUserAddRequest, context: ServerContext) async throws -> Etcdserverpb_AuthUserAddResponse {
        let noPassword = request.hasOptions && request.options.noPassword
        guard !request.name.isEmpty else { throw V3Backend.rpcError(V3Error.userEmpty) }
        // Before bcrypt's work, so that nobody but root can make the member do it (checked
        // again when the request applies).
        try backend.requireAdmin()
        let hash = noPassword ? [] : try await hash(request.password)
        var response = Etcdserverpb_AuthUserAddResponse()
        response.header = try await apply(.userAdd(name: request.name, passwordHash: hash, noPassword: noPassword)).1
        return response
    }

    func userGet(request: Etcdserverpb_AuthUserGetRequest, context: ServerContext) async throws -> Etcdserverpb_AuthUserGetResponse {
        let (answer, header) = try await apply(.userGet(request.name))
        guard case .user(let roles) = answer else { throw KVCalls.unexpected }
        var response = Etcdserverpb_AuthUserGetResponse()
        response.header = header
        response.roles = roles
        return response
    }

    func userList(request: Etcdserverpb_AuthUserListRequest, context: ServerContext) async throws -> Etcdserverpb_AuthUserListResponse {
        let (answer, header) = try await apply(.userList)
        guard case .names(let names) = answer else { throw KVCalls.unexpected }
        var response = Etcdserverpb_AuthUserListResponse()
        response.header = header
        response.users = names
        return response
    }

    func userDelete(request: Etcdserverpb_AuthUserDeleteRequest, context: ServerContext) async throws -> Etcdserverpb_AuthUserDeleteResponse {
        var response = Etcdserverpb_AuthUserDeleteResponse()
        response.header = try await apply(.userDelete(request.name)).1
        return response
    }

    func userChangePassword(
        request: Etcdserverpb_AuthUserChangePasswordRequest, context: ServerContext
    ) async throws -> Etcdserverpb_AuthUserChangePasswordResponse {
        try backend.requireAdmin()
        let hash = try await hash(request.password)
        var response = Etcdserverpb_AuthUserChangePasswordResponse()
        response.header = try await apply(.userChangePassword(name: request.name, passwordHash: hash)).1
        return response
    }

    func userGrantRole(request: Etcdserverpb_AuthUserGrantRoleRequest, context: ServerContext) async throws -> Etcdserverpb_AuthUserGrantRoleResponse {
        var response = Etcdserverpb_AuthUserGrantRoleResponse()
        response.header = try await apply(.userGrantRole(user: request.user, role: request.role)).1
        return response
    }

    func userRevokeRole(request: Etcdserverpb_AuthUserRevokeRoleRequest, context: ServerContext) async throws -> Etcdserverpb_AuthUserRevokeRoleResponse {
        var response = Etcdserverpb_AuthUserRevokeRoleResponse()
        response.header = try await apply(.userRevokeRole(user: request.name, role: request.role)).1
        return response
    }

    func roleAdd(request: Etcdserverpb_AuthRoleAddRequest, context: ServerContext) async throws -> Etcdserverpb_AuthRoleAddResponse {
        var response = Etcdserverpb_AuthRoleAddResponse()
        response.header = try await apply(.roleAdd(request.name)).1
        return response
    }

    func roleGet(request: Etcdserverpb_AuthRoleGetRequest, context: ServerContext) async throws -> Etcdserverpb_AuthRoleGetResponse {
        let (answer, header) = try await apply(.roleGet(request.role))
        guard case .permissions(let permissions) = answer else { throw KVCalls.unexpected }
        var response = Etcdserverpb_AuthRoleGetResponse()
        response.header = header
        response.perm = permissions.map { permission in
            var message = Authpb_Permission()
            message.permType = permission.type
            message.key = Data(permission.key)
            message.rangeEnd = Data(permission.rangeEnd)
            return message
        }
        return response
    }

    func roleList(request: Etcdserverpb_AuthRoleListRequest, context: ServerContext) async throws -> Etcdserverpb_AuthRoleListResponse {
        let (answer, header) = try await apply(.roleList)
        guard case .names(let names) = answer else { throw KVCalls.unexpected }
        var response = Etcdserverpb_AuthRoleListResponse()
        response.header = header
        response.roles = names
        return response
    }

    func roleDelete(request: Etcdserverpb_AuthRoleDeleteRequest, context: ServerContext) async throws -> Etcdserverpb_AuthRoleDeleteResponse {
        var response = Etcdserverpb_AuthRoleDeleteResponse()
        response.header = try await apply(.roleDelete(request.role)).1
        return response
    }

    func roleGrantPermission(
        request: Etcdserverpb_AuthRoleGrantPermissionRequest, context: ServerContext
    ) async throws -> Etcdserverpb_AuthRoleGrantPermissionResponse {
        switch request.perm.permType {
        case .read, .write, .readwrite: break
        default: throw RPCError(code: .invalidArgument, message: "etcdserver: permission type must be READ, WRITE or READWRITE")
        }
        let permission = AuthStore.Permission(type: request.perm.permType, key: Array(request.perm.key), rangeEnd: Array(request.perm.rangeEnd))
        var response = Etcdserverpb_AuthRoleGrantPermissionResponse()
        response.header = try await apply(.roleGrantPermission(role: request.name, permission)).1
        return response
    }

    func roleRevokePermission(
        request: Etcdserverpb_AuthRoleRevokePermissionRequest, context: ServerContext
    ) async throws -> Etcdserverpb_AuthRoleRevokePermissionResponse {
        var response = Etcdserverpb_AuthRoleRevokePermissionResponse()
        response.header = try await apply(.roleRevokePermission(role: request.role, key: Array(request.key), rangeEnd: Array(request.rangeEnd))).1
        return response
    }

    private func hash(_ password: String) async throws -> [UInt8] {
        let cost = backend.bcryptCost
        return try await Self.offLoop { try Passwords.hash(password, cost: cost) }
    }

    /// bcrypt takes tens of milliseconds of CPU: on a thread of Dispatch's, not one of the few
    /// Swift concurrency and the event loops share.
    static func offLoop<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: Result { try work() }) }
        }
        return try result.get()
    }
}
