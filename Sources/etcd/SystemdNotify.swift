#if canImport(Glibc)
import Glibc
#endif

/// systemd's readiness protocol, for `Type=notify` units: once the member serves clients it
/// sends `READY=1` to the datagram socket named by `NOTIFY_SOCKET`, as etcd does (through
/// go-systemd's SdNotify). Without the variable (not under systemd) it does nothing.
enum SystemdNotify {
    /// Sends `state` (e.g. "READY=1"); returns why it could not, or nil.
    @discardableResult
    static func send(_ state: String, environment: [String: String]) -> String? {
        #if canImport(Glibc)
        guard let socketPath = environment["NOTIFY_SOCKET"], !socketPath.isEmpty else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // "@name" is an abstract socket: a leading NUL instead of the "@".
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return "NOTIFY_SOCKET \(socketPath) is longer than a socket path may be" }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (position, byte) in path.enumerated() { buffer[position] = byte }
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return "socket: \(String(cString: strerror(errno)))" }
        defer { close(descriptor) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let sent = Array(state.utf8).withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
        return sent < 0 ? "sendto \(socketPath): \(String(cString: strerror(errno)))" : nil
        #else
        return nil
        #endif
    }
}
