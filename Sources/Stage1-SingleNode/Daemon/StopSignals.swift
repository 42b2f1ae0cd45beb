@preconcurrency import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The signals that stop the daemon, delivered as an async stream instead of by a handler that
/// could run at any point in the program.
public final class StopSignals: Sendable {
    /// The signals, as they arrive.
    public let stream: AsyncStream<Int32>
    // Kept alive for as long as the daemon runs; a released source stops delivering.
    private let sources: [any DispatchSourceSignal]

    /// Starts catching `numbers` (they no longer end the process by default).
    public init(_ numbers: Int32...) {
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

/// Writes to standard error (or output) without buffering.
public enum FileHandleOutput {
    /// Writes `text` to standard output at once (a pipe would otherwise hold it back).
    public static func standardOutput(_ text: String) {
        _ = text.withCString { write(1, $0, strlen($0)) }
    }

    /// Writes `text` to standard error.
    public static func standardError(_ text: String) {
        _ = text.withCString { write(2, $0, strlen($0)) }
    }
}

