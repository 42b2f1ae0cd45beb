import Foundation
import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import Synchronization

/// One gRPC call that is not the fast path's (Watch, Lease, Cluster, Maintenance, or a KV call
/// the fast path passed on), turned from HTTP/2 frames into the parts grpc-swift's server runs:
/// metadata, then messages in, and metadata, messages and a status out (gRPC over HTTP/2:
/// length-prefixed messages in DATA frames, the status in trailers).
///
/// Inbound, the frames become an async sequence of request parts; outbound, each part the
/// handler writes becomes frames on the stream, and the writer waits until they are written,
/// so a watcher that reads slowly holds its sender back rather than filling memory.
final class GRPCStreamBridge: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    typealias Inbound = AsyncThrowingStream<RPCRequestPart<[UInt8]>, any Error>

    /// A call ready to run: what `ClientPortTransport` hands to grpc-swift's server.
    struct Call: Sendable {
        let descriptor: MethodDescriptor
        let inbound: Inbound
        let outbound: StreamWriter
        let remotePeer: String
        let localPeer: String
        /// Cancels the call if the client goes away before its end.
        let cancellation: CancellationLink
    }

    private let maxMessageSize: Int
    private let deliver: @Sendable (Call) -> Bool
    private var continuation: Inbound.Continuation?
    private var buffered = ByteBuffer()
    private var cancellation: CancellationLink?
    private var hasEnded = false

    /// `deliver` starts the call; false if the server is shutting down (the stream is refused).
    init(maxMessageSize: Int, deliver: @escaping @Sendable (Call) -> Bool) {
        self.maxMessageSize = maxMessageSize
        self.deliver = deliver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers) where continuation == nil && !hasEnded:
            start(headers.headers, endStream: headers.endStream, context: context)
        case .headers(let trailers) where trailers.endStream:
            end(nil)
        case .data(let frame):
            guard continuation != nil, !hasEnded, case .byteBuffer(var bytes) = frame.data else { return }
            buffered.writeBuffer(&bytes)
            deframe()
            if frame.endStream { end(nil) }
        default:
            break
        }
    }

    private func start(_ headers: HPACKHeaders, endStream: Bool, context: ChannelHandlerContext) {
        let link = CancellationLink()
        cancellation = link
        let writer = StreamWriter(channel: context.channel, link: link)
        // Only uncompressed protobuf: what etcd's clients send.
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            hasEnded = true
            writer.refuse(Status(code: .unimplemented, message: "compression is not supported (grpc-encoding: \(encoding))"))
            return
        }
        guard let path = headers.first(name: ":path"), let descriptor = Self.descriptor(path) else {
            hasEnded = true
            writer.refuse(Status(code: .unimplemented, message: "malformed method name"))
            return
        }
        let (inbound, continuation) = Inbound.makeStream()
        self.continuation = continuation
        continuation.yield(.metadata(Self.metadata(headers)))
        let call = Call(
            descriptor: descriptor, inbound: inbound, outbound: writer,
            remotePeer: Self.describe(context.channel.parent?.remoteAddress), localPeer: Self.describe(context.channel.parent?.localAddress),
            cancellation: link)
        guard deliver(call) else {
            hasEnded = true
            continuation.finish()
            writer.refuse(Status(code: .unavailable, message: "the server is shutting down"))
            return
        }
        if endStream { end(nil) }
    }

    /// Cuts complete messages out of what has arrived.
    private func deframe() {
        while buffered.readableBytes >= 5 {
            let compressed = buffered.getInteger(at: buffered.readerIndex, as: UInt8.self)!
            let length = Int(buffered.getInteger(at: buffered.readerIndex + 1, as: UInt32.self)!)
            guard compressed == 0 else { return end(RPCError(code: .internalError, message: "grpc: compressed flag set with identity or empty encoding")) }
            guard length <= maxMessageSize else {
                return end(RPCError(code: .resourceExhausted, message: "grpc: received message larger than max (\(length) vs. \(maxMessageSize))"))
            }
            guard buffered.readableBytes >= 5 + length else { break }
            buffered.moveReaderIndex(forwardBy: 5)
            continuation?.yield(.message(buffered.readBytes(length: length)!))
        }
        buffered.discardReadBytes()
    }

    private func end(_ error: (any Error)?) {
        guard !hasEnded else { return }
        hasEnded = true
        // The client's side ended inside a message: grpc-go's words for that.
        let error = error ?? (buffered.readableBytes > 0 ? RPCError(code: .internalError, message: "grpc: unexpected EOF") : nil)
        buffered.clear()
        if let error { continuation?.finish(throwing: error) } else { continuation?.finish() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A stream that closes before the call wrote its status was reset by the client: the
        // call is cancelled, as gRPC servers do.
        if let cancellation, !cancellation.isFinished { cancellation.cancel() }
        end(RPCError(code: .cancelled, message: "the client closed the stream"))
        context.fireChannelInactive()
    }

    static func descriptor(_ path: String) -> MethodDescriptor? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == 2, path.hasPrefix("/") else { return nil }
        return MethodDescriptor(fullyQualifiedService: String(parts[0]), method: String(parts[1]))
    }

    /// Request headers as gRPC metadata: HTTP/2's own and gRPC's framing headers left out,
    /// `-bin` values base64-decoded.
    static func metadata(_ headers: HPACKHeaders) -> Metadata {
        var metadata = Metadata()
        for (name, value, _) in headers where !name.hasPrefix(":") && !reserved.contains(name) {
            if name.hasSuffix("-bin") {
                if let bytes = Data(base64Encoded: padded(value)) { metadata.addBinary(Array(bytes), forKey: name) }
            } else {
                metadata.addString(value, forKey: name)
            }
        }
        return metadata
    }

    // grpc-timeout stays: grpc-swift's server reads the call's deadline from it.
    static let reserved: Set<String> = ["content-type", "te", "grpc-encoding", "grpc-accept-encoding"]

    private static func padded(_ base64: String) -> String {
        let remainder = base64.utf8.count % 4
        return remainder == 0 ? base64 : base64 + String(repeating: "=", count: 4 - remainder)
    }

    /// grpc-swift's spelling of a peer: "ipv4:127.0.0.1:2379".
    static func describe(_ address: SocketAddress?) -> String {
        switch address {
        case .v4?: "ipv4:\(address!.ipAddress ?? ""):\(address!.port ?? 0)"
        case .v6?: "ipv6:[\(address!.ipAddress ?? "")]:\(address!.port ?? 0)"
        case .unixDomainSocket?: "unix:\(address!.pathname ?? "")"
        case nil: "unknown"
        }
    }
}

/// Links a call's cancellation handle, made inside its task, to the stream's end, seen on the
/// event loop: whichever comes second acts.
final class CancellationLink: Sendable {
    private struct State {
        var handle: ServerContext.RPCCancellationHandle?
        var isCancelled = false
        var isFinished = false
    }
    private let state = Mutex(State())

    func attach(_ handle: ServerContext.RPCCancellationHandle) {
        let cancelled = state.withLock { state in
            state.handle = handle
            return state.isCancelled
        }
        if cancelled { handle.cancel() }
    }

    func cancel() {
        let handle = state.withLock { state -> ServerContext.RPCCancellationHandle? in
            state.isCancelled = true
            return state.handle
        }
        handle?.cancel()
    }

    /// The call wrote its status: a close after that is the normal end, not a cancellation.
    func markFinished() { state.withLock { $0.isFinished = true } }
    var isFinished: Bool { state.withLock { $0.isFinished } }
}

/// What a call writes, as HTTP/2 frames on its stream: response headers (once, before the
/// first message), length-prefixed messages, and the status in trailers; a status with no
/// headers before it goes as one trailers-only frame.
final class StreamWriter: ClosableRPCWriterProtocol, Sendable {
    typealias Element = RPCResponsePart<[UInt8]>

    private let channel: any Channel
    private let sentHeaders = Mutex(false)
    private let link: CancellationLink

    init(channel: any Channel, link: CancellationLink) {
        self.channel = channel
        self.link = link
    }

    func write(_ element: Element) async throws {
        try await channel.writeFrames(frames(for: element)).get()
    }

    func write(contentsOf elements: some Sequence<Element>) async throws {
        for element in elements { try await write(element) }
    }

    func finish() async {}

    func finish(throwing error: any Error) async {
        let status = (error as? RPCError).map { Status(code: Status.Code($0.code), message: $0.message) } ?? Status(code: .unknown, message: "\(error)")
        try? await write(.status(status, [:]))
    }

    /// A status written from the event loop before any call ran.
    func refuse(_ status: Status) {
        _ = channel.writeFrames(frames(for: .status(status, [:])))
    }

    private func frames(for element: Element) -> [HTTP2Frame.FramePayload] {
        // Whether headers went before (and, from now on, they have).
        let headersSent = sentHeaders.withLock { sent in defer { sent = true }; return sent }
        switch element {
        case .metadata(let metadata):
            return [GRPCFraming.headers(metadata)]
        case .message(let message):
            let data = GRPCFraming.message(message, allocator: channel.allocator)
            return headersSent ? [data] : [GRPCFraming.headers(), data]
        case .status(let status, let metadata):
            link.markFinished()
            return [GRPCFraming.status(code: status.code.rawValue, message: status.message, metadata: metadata, trailersOnly: !headersSent)]
        }
    }
}

extension Channel {
    /// Writes several frames and flushes once; the future completes when the last is written.
    fileprivate func writeFrames(_ frames: [HTTP2Frame.FramePayload]) -> EventLoopFuture<Void> {
        for frame in frames.dropLast() { write(frame, promise: nil) }
        return writeAndFlush(frames.last!)
    }
}
