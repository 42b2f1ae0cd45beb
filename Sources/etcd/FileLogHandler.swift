import Foundation
import Logging
import SingleNode
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `--log-outputs /path/to/file`: log lines appended to a file, in the same format as the
/// standard-error lines, so that `tail -f` and log shippers see what a terminal would.
struct FileLogHandler: LogHandler {
    /// One open file shared by every logger that writes to it; a lock keeps lines whole.
    final class Sink: Sendable {
        let path: String
        private let descriptor: Mutex<Int32>

        /// Opens `path` for appending (created 0600: logs name keys and clients).
        init(path: String) throws(V1Flags.InvalidValue) {
            let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw V1Flags.InvalidValue(description: "--log-outputs \(path): cannot open it for appending: \(String(cString: strerror(errno)))")
            }
            self.path = path
            self.descriptor = Mutex(descriptor)
        }

        func write(_ line: String) {
            var bytes = Array(line.utf8)
            descriptor.withLock { descriptor in
                var offset = 0
                while offset < bytes.count {
                    let written = bytes[offset...].withUnsafeBufferPointer { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { return }
                    offset += written
                }
            }
            bytes.removeAll()
        }
    }

    let label: String
    let sink: Sink
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let stamp = Date().formatted(.iso8601)
        sink.write("\(stamp) \(event.level) \(label):\(fields) [\(event.source)] \(event.message)\n")
    }
}

