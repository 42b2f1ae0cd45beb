import CCrypt
import Foundation

/// Passwords as etcd keeps them: bcrypt hashes ("$2a$<cost>$<salt><hash>", what Go's bcrypt
/// writes), made and checked by the system's libxcrypt, never by code of our own.
///
/// bcrypt is slow on purpose (about 60 ms at cost 10 on this machine): both calls run before a
/// request reaches the log, on the caller's task, never on the Raft loop or an event loop.
public enum Passwords {
    /// etcd's `--bcrypt-cost` default, and the range Go's bcrypt accepts.
    public static let defaultCost = 10
    public static let costs = 4...31

    public struct HashError: Error, CustomStringConvertible {
        public var description: String
    }

    /// A new hash of `password`, with a random salt at `cost`.
    public static func hash(_ password: String, cost: Int = defaultCost) throws -> [UInt8] {
        guard costs.contains(cost) else { throw HashError(description: "bcrypt cost \(cost) is outside \(costs)") }
        var salt = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        // nil random bytes: libxcrypt takes them from the kernel (getentropy).
        guard crypt_gensalt_rn("$2a$", UInt(cost), nil, 0, &salt, Int32(salt.count)) != nil else {
            throw HashError(description: "cannot make a bcrypt salt: \(String(cString: strerror(errno)))")
        }
        let hashed = salt.withUnsafeBufferPointer { crypt(password, setting: $0.baseAddress!) }
        guard let hashed, hashed.hasPrefix("$2a$") else { throw HashError(description: "bcrypt failed") }
        return Array(hashed.utf8)
    }

    /// Whether `password` is the one `hash` was made from. A hash that is not bcrypt's never
    /// matches.
    public static func matches(_ password: String, hash: [UInt8]) -> Bool {
        guard hash.count >= 29, hash.starts(with: Array("$2".utf8)), let setting = String(bytes: hash, encoding: .utf8) else { return false }
        guard let computed = crypt(password, setting: setting) else { return false }
        // Compared in full, without stopping at the first difference.
        let (a, b) = (Array(computed.utf8), hash)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// crypt_r with its state on the heap (it is about 32 KiB): thread-safe, unlike crypt.
    private static func crypt(_ password: String, setting: UnsafePointer<CChar>) -> String? {
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer { data.deallocate() }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let result = crypt_r(password, setting, data) else { return nil }
        let text = String(cString: result)
        // libxcrypt answers a failure with a string starting "*" rather than NULL.
        return text.hasPrefix("*") ? nil : text
    }

    private static func crypt(_ password: String, setting: String) -> String? {
        setting.withCString { crypt(password, setting: $0) }
    }
}
