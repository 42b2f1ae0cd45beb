import NIOCore
import NIOPosix

/// A parsed HTTP/1.1 response as the tests inspect it.
struct HTTPReplyText: Sendable, CustomStringConvertible {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: String

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var description: String { "\(status) \(body)" }
}

struct TestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out: \(what)" }
}

/// Runs `body`, failing with `TestTimeout` if it takes longer than `seconds`: every wait in the
/// tests is bounded.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TestTimeout(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Hands every byte the server sends to an async stream, and its end when the server closes.
private final class CollectingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let continuation: AsyncStream<[UInt8]>.Continuation

    init(_ continuation: AsyncStream<[UInt8]>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        continuation.yield(buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event as? ChannelEvent == .inputClosed { continuation.finish() }
    }
}

/// One TCP connection that sends raw bytes and reads HTTP responses, so tests can send exactly
/// what a broken or slow client would.
actor RawHTTPConnection {
    private let channel: any Channel
    // A reference, so the actor can advance the iterator in place across the suspension.
    private final class IteratorBox {
        var iterator: AsyncStream<[UInt8]>.AsyncIterator
        init(_ iterator: AsyncStream<[UInt8]>.AsyncIterator) { self.iterator = iterator }
        func next(isolation actor: isolated (any Actor)? = #isolation) async -> [UInt8]? {
            await iterator.next(isolation: actor)
        }
    }

    private let inbound: IteratorBox
    private var buffered: [UInt8] = []
    private(set) var isClosedByServer = false

    init(port: Int) async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CollectingHandler(continuation))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        inbound = IteratorBox(stream.makeAsyncIterator())
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// Closes our sending side only, as a client that is done sending but still reading.
    func halfClose() async throws {
        try await channel.close(mode: .output)
    }

    func close() async {
        try? await channel.close()
    }

    private func nextChunk() async -> [UInt8]? {
        await inbound.next()
    }

    /// Reads one response, or nil if the server closed the connection first.
    func readResponse() async throws -> HTTPReplyText? {
        while true {
            if let reply = parse() { return reply }
            guard let chunk = await nextChunk() else {
                isClosedByServer = true
                return nil
            }
            buffered += chunk
        }
    }

    /// Waits until the server closes the connection, discarding anything it sends.
    func waitForClose() async throws {
        while await nextChunk() != nil {}
        isClosedByServer = true
    }

    private func parse() -> HTTPReplyText? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let headEnd = buffered.firstRange(of: separator) else { return nil }
        let lines = String(decoding: buffered[..<headEnd.lowerBound], as: UTF8.self).split(separator: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1])!
        let headers = lines.dropFirst().map { line -> (name: String, value: String) in
            let parts = line.split(separator: ":", maxSplits: 1)
            return (String(parts[0]), String(parts.count > 1 ? parts[1].drop(while: { $0 == " " }) : ""))
        }
        let length = Int(headers.first { $0.name.lowercased() == "content-length" }?.value ?? "0")!
        guard buffered.count >= headEnd.upperBound + length else { return nil }
        let body = String(decoding: buffered[headEnd.upperBound..<headEnd.upperBound + length], as: UTF8.self)
        buffered.removeFirst(headEnd.upperBound + length)
        return HTTPReplyText(status: status, headers: headers, body: body)
    }
}

/// Percent-encodes a form value the way `curl --data-urlencode` does.
func formEncode(_ text: String) -> String {
    var output = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            output.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            output += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
        }
    }
    return output
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Sends one request on a fresh connection and reads the answer.
func request(
    _ port: Int, _ method: String, _ path: String, form: [(String, String)]? = nil, body: String? = nil,
    contentType: String = "application/x-www-form-urlencoded", timeout: Double = 10
) async throws -> HTTPReplyText {
    try await withTimeout(timeout, "\(method) \(path)") {
        let connection = try await RawHTTPConnection(port: port)
        let payload = body ?? form.map { $0.map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&") }
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let payload {
            text += "Content-Type: \(contentType)\r\nContent-Length: \(payload.utf8.count)\r\n"
        }
        text += "\r\n" + (payload ?? "")
        try await connection.send(text)
        guard let reply = try await connection.readResponse() else { throw TestTimeout(what: "connection closed early") }
        await connection.close()
        return reply
    }
}
