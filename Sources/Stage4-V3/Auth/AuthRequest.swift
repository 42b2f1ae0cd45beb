import BinaryCodec
import EtcdAPI

/// A change to (or a question for) the auth store, as the log carries it. Every Auth RPC goes
/// through the log, reads included, as in etcd 3.4: each is answered from the store as every
/// member holds it at that point of the log.
///
/// Unlike etcd 3.4's log, no password is ever in it: the API layer hashes a new password (and
/// checks a password at login) before proposing, as etcd 3.5 does.
public enum AuthRequest: Sendable, Equatable {
    case enable
    case disable
    /// A login whose password was checked against the store at `checkedRevision`; each member
    /// then keeps the token `tokenPrefix.<log index>` for the user.
    case authenticate(name: String, checkedRevision: UInt64, tokenPrefix: String)
    case userAdd(name: String, passwordHash: [UInt8], noPassword: Bool)
    case userGet(String)
    case userList
    case userDelete(String)
    case userChangePassword(name: String, passwordHash: [UInt8])
    case userGrantRole(user: String, role: String)
    case userRevokeRole(user: String, role: String)
    case roleAdd(String)
    case roleGet(String)
    case roleList
    case roleDelete(String)
    case roleGrantPermission(role: String, AuthStore.Permission)
    case roleRevokePermission(role: String, key: [UInt8], rangeEnd: [UInt8])

    func encode(into writer: inout ByteWriter) {
        func text(_ value: String) { writer.blob(Array(value.utf8)) }
        switch self {
        case .enable: writer.u8(1)
        case .disable: writer.u8(2)
        case .authenticate(let name, let revision, let prefix):
            writer.u8(3); text(name); writer.u64(revision); text(prefix)
        case .userAdd(let name, let hash, let noPassword):
            writer.u8(4); text(name); writer.blob(hash); writer.u8(noPassword ? 1 : 0)
        case .userGet(let name): writer.u8(5); text(name)
        case .userList: writer.u8(6)
        case .userDelete(let name): writer.u8(7); text(name)
        case .userChangePassword(let name, let hash): writer.u8(8); text(name); writer.blob(hash)
        case .userGrantRole(let user, let role): writer.u8(9); text(user); text(role)
        case .userRevokeRole(let user, let role): writer.u8(10); text(user); text(role)
        case .roleAdd(let name): writer.u8(11); text(name)
        case .roleGet(let name): writer.u8(12); text(name)
        case .roleList: writer.u8(13)
        case .roleDelete(let name): writer.u8(14); text(name)
        case .roleGrantPermission(let role, let permission):
            writer.u8(15); text(role); writer.u8(UInt8(truncatingIfNeeded: permission.type.rawValue)); writer.blob(permission.key); writer.blob(permission.rangeEnd)
        case .roleRevokePermission(let role, let key, let rangeEnd):
            writer.u8(16); text(role); writer.blob(key); writer.blob(rangeEnd)
        }
    }

    init?(from reader: inout ByteReader) {
        func text() -> String? { reader.blob().flatMap { String(bytes: $0, encoding: .utf8) } }
        switch reader.u8() {
        case 1: self = .enable
        case 2: self = .disable
        case 3:
            guard let name = text(), let revision = reader.u64(), let prefix = text() else { return nil }
            self = .authenticate(name: name, checkedRevision: revision, tokenPrefix: prefix)
        case 4:
            guard let name = text(), let hash = reader.blob(), let flag = reader.u8() else { return nil }
            self = .userAdd(name: name, passwordHash: hash, noPassword: flag == 1)
        case 5: guard let name = text() else { return nil }; self = .userGet(name)
        case 6: self = .userList
        case 7: guard let name = text() else { return nil }; self = .userDelete(name)
        case 8:
            guard let name = text(), let hash = reader.blob() else { return nil }
            self = .userChangePassword(name: name, passwordHash: hash)
        case 9: guard let user = text(), let role = text() else { return nil }; self = .userGrantRole(user: user, role: role)
        case 10: guard let user = text(), let role = text() else { return nil }; self = .userRevokeRole(user: user, role: role)
        case 11: guard let name = text() else { return nil }; self = .roleAdd(name)
        case 12: guard let name = text() else { return nil }; self = .roleGet(name)
        case 13: self = .roleList
        case 14: guard let name = text() else { return nil }; self = .roleDelete(name)
        case 15:
            guard let role = text(), let raw = reader.u8(), let type = Authpb_Permission.TypeEnum(rawValue: Int(raw)),
                  let key = reader.blob(), let rangeEnd = reader.blob()
            else { return nil }
            self = .roleGrantPermission(role: role, AuthStore.Permission(type: type, key: key, rangeEnd: rangeEnd))
        case 16:
            guard let role = text(), let key = reader.blob(), let rangeEnd = reader.blob() else { return nil }
            self = .roleRevokePermission(role: role, key: key, rangeEnd: rangeEnd)
        default: return nil
        }
    }
}

/// What applying an `AuthRequest` answers (the RPC layer turns it into etcd's response).
public enum AuthResponse: Sendable, Equatable {
    case done
    /// A login went through: the token is made by the member (`V3StateMachine`).
    case authenticated(user: String)
    case token(String)
    case user(roles: [String])
    case names([String])
    case permissions([AuthStore.Permission])
}
