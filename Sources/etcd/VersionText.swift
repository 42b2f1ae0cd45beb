import V3

/// `etcd --version`, in etcd's shape: tools (and people) parse the first line, `etcd Version:`.
enum VersionText {
    static var text: String {
        """
        etcd Version: \(OperationsEndpoints.serverVersion)
        Git SHA: Not provided (a swift build records none)
        Swift Version: \(swiftVersion)
        Go OS/Arch: \(platform)
        """
    }

    private static var swiftVersion: String {
        #if compiler(>=6.4)
        "6.4 or later"
        #elseif compiler(>=6.3)
        "6.3"
        #elseif compiler(>=6.2)
        "6.2"
        #elseif compiler(>=6.1)
        "6.1"
        #else
        "6.0"
        #endif
    }

    // Go's names: the line keeps etcd's label so that scripts reading it still match.
    private static var platform: String {
        #if os(Linux)
        let system = "linux"
        #elseif os(macOS)
        let system = "darwin"
        #else
        let system = "unknown"
        #endif
        #if arch(x86_64)
        return system + "/amd64"
        #elseif arch(arm64)
        return system + "/arm64"
        #else
        return system + "/unknown"
        #endif
    }
}
