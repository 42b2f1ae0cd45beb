#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Removes a directory tree (for `-f`).
enum ForceRemove {
    static func tree(_ path: String) {
        if unlink(path) == 0 { return }
        guard let handle = opendir(path) else { return }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(handle)
        for name in names { tree(path + "/" + name) }
        rmdir(path)
    }
}
