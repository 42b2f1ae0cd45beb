@preconcurrency import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The signals that stop the daemon, delivered as an async stream instead of by a handler that
/// could run at any point in the program.
final class StopSignals: Sendable {
    let stream: AsyncStream<Int32>
    // Kept alive for as long as the daemon runs; a released source stops delivering.
    private let sources: [any DispatchSourceSignal]

    init(_ numbers: Int32...) {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        self.stream = stream
        self.sources = numbers.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }
}

/// Writes to standard error without buffering.
enum FileHandleOutput {
    static func standardError(_ text: String) {
        _ = text.withCString { write(2, $0, strlen($0)) }
    }
}

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
