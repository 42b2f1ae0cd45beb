import EtcdAPI

/// Who a request comes from, as etcd's AuthInfo: a user name, and the auth store's revision
/// when its credentials were checked. The empty name (revision 0) is "nobody".
public struct AuthInfo: Sendable, Equatable {
    public var user: String
    public var revision: UInt64

    public init(user: String, revision: UInt64) {
        self.user = user
        self.revision = revision
    }

    public static let nobody = AuthInfo(user: "", revision: 0)
}

/// v3 authentication's replicated state, as etcd's auth store: users (bcrypt hashes of their
/// passwords, their roles), roles (key permissions), whether auth is on, and a revision that
/// every change to users or roles moves on, so that credentials checked before the change are
/// refused after it ("revision of auth store is old").
///
/// A value, changed only by applying log entries (`apply`), like the MVCC store it lives in:
/// every member holds the same one. Tokens are not here: they belong to each member
/// (`SimpleTokens`).
public struct AuthStore: Sendable, Equatable {
    public static let rootUser = "root"
    public static let rootRole = "root"

    public struct User: Sendable, Equatable {
        public var name: String
        /// The bcrypt hash; empty for a user made with `--no-password`.
        public var passwordHash: [UInt8]
        /// Sorted, as etcd keeps them.
        public var roles: [String]
        public var noPassword: Bool
    }

    public struct Permission: Sendable, Equatable {
        public var type: Authpb_Permission.TypeEnum
        public var key: [UInt8]
        public var rangeEnd: [UInt8]

        public init(type: Authpb_Permission.TypeEnum, key: [UInt8], rangeEnd: [UInt8]) {
            self.type = type
            self.key = key
            self.rangeEnd = rangeEnd
        }
    }

    public struct Role: Sendable, Equatable {
        public var name: String
        /// Sorted by key, as etcd keeps them.
        public var permissions: [Permission]
    }

    public internal(set) var isEnabled = false
    /// Starts at 1, as etcd's: 0 is what "no credentials" carries.
    public internal(set) var revision: UInt64 = 1
    public internal(set) var users: [String: User] = [:]
    public internal(set) var roles: [String: Role] = [:]
    /// Per user, what its roles let it read and write, rebuilt after every change.
    private(set) var readable: [String: KeyPermissions] = [:]
    private(set) var writable: [String: KeyPermissions] = [:]

    public init() {}

    // MARK: Checks, as etcd's isOpPermitted and IsAdminPermitted

    public enum Access: Sendable { case read, write }

    /// Whether `who` may read (or write) [key, rangeEnd). Always allowed while auth is off.
    public func check(_ access: Access, key: [UInt8], rangeEnd: [UInt8] = [], as who: AuthInfo) throws(V3Error) {
        guard isEnabled else { return }
        // Revision 0 is what a request without credentials carries.
        if who.revision == 0 { throw .userEmpty }
        if who.revision < revision { throw .authOldRevision }
        guard let user = users[who.user] else { throw .permissionDenied }
        if user.roles.contains(Self.rootRole) { return }
        let granted = access == .read ? readable[who.user] : writable[who.user]
        guard granted?.covers(key: key, rangeEnd: rangeEnd) == true else { throw .permissionDenied }
    }

    /// Whether `who` holds the root role: what managing users and roles, and the maintenance
    /// calls that see or change the whole store, require.
    public func checkAdmin(_ who: AuthInfo) throws(V3Error) {
        guard isEnabled else { return }
        if who.user.isEmpty { throw .userEmpty }
        guard let user = users[who.user] else { throw .userNotFound }
        guard user.roles.contains(Self.rootRole) else { throw .permissionDenied }
    }

    func hasRole(_ user: String, _ role: String) -> Bool { users[user]?.roles.contains(role) ?? false }

    // MARK: Changes

    /// Applies one auth request from the log, on behalf of `who` (nil: the server itself).
    mutating func apply(_ request: AuthRequest, as who: AuthInfo?) throws(V3Error) -> AuthResponse {
        if let who {
            switch request {
            case .authenticate: break
            // Anyone may read their own user, and the roles they hold.
            case .userGet(let name) where isEnabled && name == who.user: break
            case .roleGet(let role) where isEnabled && hasRole(who.user, role): break
            default: try checkAdmin(who)
            }
        }
        switch request {
        case .enable:
            guard !isEnabled else { return .done }
            guard let root = users[Self.rootUser] else { throw .rootUserNotExist }
            guard root.roles.contains(Self.rootRole) else { throw .rootRoleNotExist }
            // As etcd: turning auth on does not move the revision.
            isEnabled = true
            return .done
        case .disable:
            guard isEnabled else { return .done }
            isEnabled = false
        case .authenticate(let name, let checkedRevision, _):
            guard isEnabled else { throw .authNotEnabled }
            guard let user = users[name], !user.noPassword else { throw .authFailed }
            // The password was checked against an older store: check it again.
            guard checkedRevision == revision else { throw .authOldRevision }
            return .authenticated(user: name)
        case .userAdd(let name, let hash, let noPassword):
            guard !name.isEmpty else { throw .userEmpty }
            guard users[name] == nil else { throw .userAlreadyExist }
            users[name] = User(name: name, passwordHash: noPassword ? [] : hash, roles: [], noPassword: noPassword)
        case .userGet(let name):
            guard let user = users[name] else { throw .userNotFound }
            return .user(roles: user.roles)
        case .userList:
            return .names(users.keys.sorted())
        case .userDelete(let name):
            if isEnabled && name == Self.rootUser { throw .invalidAuthManagement }
            guard users.removeValue(forKey: name) != nil else { throw .userNotFound }
        case .userChangePassword(let name, let hash):
            guard users[name] != nil else { throw .userNotFound }
            users[name]!.passwordHash = hash
        case .userGrantRole(let name, let role):
            guard var user = users[name] else { throw .userNotFound }
            guard role == Self.rootRole || roles[role] != nil else { throw .roleNotFound }
            if user.roles.contains(role) { return .done }
            user.roles = (user.roles + [role]).sorted()
            users[name] = user
        case .userRevokeRole(let name, let role):
            if isEnabled && name == Self.rootUser && role == Self.rootRole { throw .invalidAuthManagement }
            guard var user = users[name] else { throw .userNotFound }
            guard let position = user.roles.firstIndex(of: role) else { throw .roleNotGranted }
            user.roles.remove(at: position)
            users[name] = user
        case .roleAdd(let name):
            guard !name.isEmpty else { throw .roleEmpty }
            guard roles[name] == nil else { throw .roleAlreadyExist }
            roles[name] = Role(name: name, permissions: [])
        case .roleGet(let name):
            guard let role = roles[name] else { throw .roleNotFound }
            return .permissions(role.permissions)
        case .roleList:
            return .names(roles.keys.sorted())
        case .roleDelete(let name):
            if isEnabled && name == Self.rootRole { throw .invalidAuthManagement }
            guard roles.removeValue(forKey: name) != nil else { throw .roleNotFound }
            for (userName, user) in users where user.roles.contains(name) {
                users[userName]!.roles.removeAll { $0 == name }
            }
        case .roleGrantPermission(let name, let permission):
            guard var role = roles[name] else { throw .roleNotFound }
            if let same = role.permissions.firstIndex(where: { $0.key == permission.key && $0.rangeEnd == permission.rangeEnd }) {
                role.permissions[same].type = permission.type
            } else {
                role.permissions.append(permission)
                // Stable, so that grants of one key keep their order, as Go's sort leaves them.
                role.permissions = role.permissions.enumerated().sorted {
                    $0.element.key == $1.element.key ? $0.offset < $1.offset : $0.element.key.lexicographicallyPrecedes($1.element.key)
                }.map(\.element)
            }
            roles[name] = role
        case .roleRevokePermission(let name, let key, let rangeEnd):
            guard var role = roles[name] else { throw .roleNotFound }
            let before = role.permissions.count
            role.permissions.removeAll { $0.key == key && $0.rangeEnd == rangeEnd }
            guard role.permissions.count < before else { throw .permissionNotGranted }
            roles[name] = role
        }
        revision += 1
        refresh()
        return .done
    }

    /// Rebuilds each user's merged permissions (etcd's refreshRangePermCache).
    mutating func refresh() {
        readable = [:]
        writable = [:]
        for (name, user) in users {
            let permissions = user.roles.compactMap { roles[$0] }.flatMap(\.permissions)
            // Only the three known types grant anything.
            readable[name] = KeyPermissions(permissions.filter { $0.type == .read || $0.type == .readwrite }.map { ($0.key, $0.rangeEnd) })
            writable[name] = KeyPermissions(permissions.filter { $0.type == .write || $0.type == .readwrite }.map { ($0.key, $0.rangeEnd) })
        }
    }
}
