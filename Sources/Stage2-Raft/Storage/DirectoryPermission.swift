#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The data directory holds every key, so only its owner should read it: new directories are
/// made 0700 (`PosixFileSystem.createDirectory`), and an existing one with looser permissions
/// is reported at start, in etcd's words, as etcd does (it warns and carries on).
public enum DirectoryPermission {
    /// 0700: read, write and enter for the owner alone.
    public static let privateMode: mode_t = 0o700

    /// The warning for `path` if it exists with permissions other than 0700, else nil.
    public static func problem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return nil }
        let mode = info.st_mode & 0o777
        guard mode != privateMode else { return nil }
        return "check file permission: directory \"\(path)\" exist, but the permission is \"\(goModeString(mode, isDirectory: true))\". "
            + "The recommended permission is \"\(goModeString(privateMode, isDirectory: false))\" to prevent possible unprivileged access to the data."
    }

    /// Go's `os.FileMode.String()` for permission bits: `drwxr-xr-x`.
    static func goModeString(_ mode: mode_t, isDirectory: Bool) -> String {
        var text = isDirectory ? "d" : "-"
        for shift in stride(from: 6, through: 0, by: -3) {
            let bits = (mode >> mode_t(shift)) & 0o7
            text += (bits & 4 != 0 ? "r" : "-") + (bits & 2 != 0 ? "w" : "-") + (bits & 1 != 0 ? "x" : "-")
        }
        return text
    }
}
