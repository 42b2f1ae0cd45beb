import BinaryCodec
import EtcdAPI

/// The auth store as bytes: kept whole in the backend (one row) and in the store's snapshots.
/// It is small (users and roles, not keys), so each change rewrites it.
extension AuthStore {
    public func encoded() -> [UInt8] {
        var writer = ByteWriter()
        func text(_ value: String) { writer.blob(Array(value.utf8)) }
        writer.u8(1)
        writer.u8(isEnabled ? 1 : 0)
        writer.u64(revision)
        writer.u32(UInt32(users.count))
        for user in users.values.sorted(by: { $0.name < $1.name }) {
            text(user.name)
            writer.blob(user.passwordHash)
            writer.u8(user.noPassword ? 1 : 0)
            writer.u32(UInt32(user.roles.count))
            for role in user.roles { text(role) }
        }
        writer.u32(UInt32(roles.count))
        for role in roles.values.sorted(by: { $0.name < $1.name }) {
            text(role.name)
            writer.u32(UInt32(role.permissions.count))
            for permission in role.permissions {
                writer.u8(UInt8(truncatingIfNeeded: permission.type.rawValue))
                writer.blob(permission.key)
                writer.blob(permission.rangeEnd)
            }
        }
        return writer.bytes
    }

    public struct DecodingError: Error, CustomStringConvertible {
        public var description: String { "the auth store's saved state is damaged or of an unknown version" }
    }

    public init(encoded bytes: [UInt8]) throws {
        var reader = ByteReader(bytes[...])
        func text() throws -> String {
            guard let blob = reader.blob(), let value = String(bytes: blob, encoding: .utf8) else { throw DecodingError() }
            return value
        }
        guard reader.u8() == 1, let enabled = reader.u8(), let revision = reader.u64(), let userCount = reader.u32() else {
            throw DecodingError()
        }
        self.init()
        isEnabled = enabled == 1
        self.revision = revision
        for _ in 0..<userCount {
            let name = try text()
            guard let hash = reader.blob(), let noPassword = reader.u8(), let roleCount = reader.u32() else { throw DecodingError() }
            var roles: [String] = []
            for _ in 0..<roleCount { roles.append(try text()) }
            users[name] = User(name: name, passwordHash: hash, roles: roles, noPassword: noPassword == 1)
        }
        guard let roleCount = reader.u32() else { throw DecodingError() }
        for _ in 0..<roleCount {
            let name = try text()
            guard let count = reader.u32() else { throw DecodingError() }
            var permissions: [Permission] = []
            for _ in 0..<count {
                guard let raw = reader.u8(), let type = Authpb_Permission.TypeEnum(rawValue: Int(raw)), let key = reader.blob(),
                      let rangeEnd = reader.blob()
                else { throw DecodingError() }
                permissions.append(Permission(type: type, key: key, rangeEnd: rangeEnd))
            }
            roles[name] = Role(name: name, permissions: permissions)
        }
        guard reader.isAtEnd else { throw DecodingError() }
        refresh()
    }
}
