/// Key paths in the keys tree: always absolute and clean, like Go's `path.Clean("/" + key)`.
public enum KeyPath {
    /// The first path segments reserved for etcd itself; clients may read under them but not write.
    public static let reservedPrefixes: [String] = ["_etcd", "ephemeralNodes"]

    /// Cleans a key as the original did with `path.Clean("/" + key)`: collapses repeated slashes,
    /// drops `.` segments, resolves `..` (never above the root) and removes a trailing slash.
    /// Works on bytes: a combining mark after `/` must not hide the separator.
    public static func clean(_ key: some StringProtocol) -> String {
        if isAlreadyClean(key.utf8) { return String(key) }
        var stack: [ArraySlice<UInt8>] = []
        for segment in Array(key.utf8).split(separator: slash, omittingEmptySubsequences: true) {
            if segment.elementsEqual([dot]) { continue }
            if segment.elementsEqual([dot, dot]) {
                if !stack.isEmpty { stack.removeLast() }
                continue
            }
            stack.append(segment)
        }
        return "/" + stack.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
    }

    private static let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")

    /// One pass over the bytes: a leading slash, no empty, `.` or `..` segment and no trailing
    /// slash. Most keys are clean, and this spares them the split and join.
    private static func isAlreadyClean(_ bytes: some Collection<UInt8>) -> Bool {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        guard bytes.first == slash else { return false }
        if bytes.count == 1 { return true }
        var segmentLength = 0, dots = 0
        for byte in bytes.dropFirst() {
            if byte == slash {
                if segmentLength == 0 || segmentLength == dots { return false }
                segmentLength = 0
                dots = 0
            } else {
                segmentLength += 1
                if byte == dot { dots += 1 }
            }
        }
        return segmentLength > 0 && !(segmentLength == dots && dots <= 2)
    }

    /// The segments of a clean key, split at `/` bytes: `/a/b` gives `["a", "b"]`; the root gives none.
    public static func segments(_ key: String) -> [String] {
        key.utf8.split(separator: slash, omittingEmptySubsequences: true).map { String(Substring($0)) }
    }

    /// The parent directory of a clean key; the root is its own parent.
    public static func parent(_ key: String) -> String {
        let bytes = key.utf8
        guard let position = bytes.lastIndex(of: slash), position != bytes.startIndex else { return "/" }
        return String(Substring(bytes[..<position]))
    }

    /// The last segment of a clean key.
    public static func lastSegment(_ key: String) -> String {
        let bytes = key.utf8
        guard let position = bytes.lastIndex(of: slash) else { return key }
        return String(Substring(bytes[bytes.index(after: position)...]))
    }

    /// Whether a clean key lies under a reserved prefix such as `/_etcd`, comparing bytes.
    public static func isReserved(_ key: String) -> Bool {
        guard let first = segments(key).first else { return false }
        return reservedPrefixes.contains { $0.utf8.elementsEqual(first.utf8) }
    }

    /// Whether `key` is `prefix` itself or lies under it, by whole segments: `/foo` covers
    /// `/foo/x` but not `/foobar`, and `/` covers everything.
    public static func isUnder(_ key: String, prefix: String) -> Bool {
        if prefix.utf8.elementsEqual("/".utf8) || key.isByteEqual(to: prefix) { return true }
        let keyBytes = key.utf8, prefixBytes = prefix.utf8
        guard keyBytes.count > prefixBytes.count, keyBytes.starts(with: prefixBytes) else { return false }
        return keyBytes[keyBytes.index(keyBytes.startIndex, offsetBy: prefixBytes.count)] == UInt8(ascii: "/")
    }

    /// The prefixes at which a watcher could be waiting for a change of `key`: `/`, `/a`, `/a/b`.
    public static func ancestorsIncludingSelf(_ key: String) -> [String] {
        var result = ["/"]
        var current = ""
        for segment in segments(key) {
            current += "/" + segment
            result.append(current)
        }
        return result
    }
}
