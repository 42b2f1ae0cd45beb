import Logging
import NIOCore
import NIOPosix
import SingleNode
import Synchronization

/// Splits the byte stream from a peer into frames: `u32 length` (little-endian), then the body.
final class PeerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = PeerFrame

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= PeerFrame.maxFrameBytes else { throw PeerProtocolError(description: "frame of \(length) bytes") }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let bytes = buffer.readBytes(length: Int(length))!
        guard let frame = PeerFrame.decode(bytes[...]) else { throw PeerProtocolError(description: "malformed frame") }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }
}

struct PeerProtocolError: Error, CustomStringConvertible {
    var description: String
}

/// Hands each frame from a peer to the transport's receiver, with the channel to answer on.
final class PeerFrameHandler: ChannelInboundHandler {
    typealias InboundIn = PeerFrame
    let receive: @Sendable (PeerFrame, any Channel) -> Void
    let logger: Logger

    init(logger: Logger, receive: @escaping @Sendable (PeerFrame, any Channel) -> Void) {
        self.logger = logger
        self.receive = receive
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        receive(unwrapInboundIn(data), context.channel)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Not our protocol (or a broken peer): say who, then hang up.
        logger.warning("closing peer connection", metadata: ["remote": "\(context.remoteAddress?.description ?? "?")", "error": "\(error)"])
        context.close(promise: nil)
    }
}

/// Connections to peers: one persistent TCP connection each, reconnected with backoff, frames
/// written back to back and flushed once per batch. Also the listener peers connect to.
public final class PeerTransport: Sendable {
    private let group: any EventLoopGroup
    private let logger: Logger
    private let receive: @Sendable (PeerFrame, any Channel) -> Void
    private let connections = Mutex<[String: Connection]>([:])
    private let listener = Mutex<(any Channel)?>(nil)
    // Connections peers opened to us, so closing ends them too.
    private let accepted = Mutex<[ObjectIdentifier: any Channel]>([:])

    private struct Connection {
        var channel: (any Channel)?
        var isConnecting = false
        // When the next attempt may start, after failures; grows to 1 s.
        var retryAt = NIODeadline.uptimeNanoseconds(0)
        var backoff = TimeAmount.milliseconds(50)
    }

    /// Makes a transport that hands every inbound frame to `receive`.
    public init(group: any EventLoopGroup, logger: Logger, receive: @escaping @Sendable (PeerFrame, any Channel) -> Void) {
        self.group = group
        self.logger = logger
        self.receive = receive
    }

    private func pipeline(_ channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PeerFrameDecoder()))
            try channel.pipeline.syncOperations.addHandler(PeerFrameHandler(logger: self.logger, receive: self.receive))
        }
    }

    /// Listens for peers on `host:port`; returns the bound port.
    public func listen(host: String, port: Int) async throws -> Int {
        do {
            return try await bind(host: host, port: port)
        } catch {
            throw ListenError(description: "cannot listen for peers on \(host):\(port): \(error) (is another etcd using the port? choose another with -s)")
        }
    }

    private func bind(host: String, port: Int) async throws -> Int {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let key = ObjectIdentifier(channel)
                self.accepted.withLock { $0[key] = channel }
                channel.closeFuture.whenComplete { _ in _ = self.accepted.withLock { $0.removeValue(forKey: key) } }
                return self.pipeline(channel)
            }
            .bind(host: host, port: port).get()
        listener.withLock { $0 = channel }
        return channel.localAddress?.port ?? port
    }

    /// Sends frames to the peer at `url` (`http://host:port`), in order, flushed together.
    /// Returns false if there is no connection yet (one is being made); the frames are dropped.
    @discardableResult
    public func send(_ frames: [PeerFrame], to url: String) -> Bool {
        guard !frames.isEmpty else { return true }
        let channel = connections.withLock { $0[url]?.channel }
        guard let channel, channel.isActive else {
            connect(url)
            return false
        }
        for frame in frames { channel.write(ByteBuffer(bytes: frame.encoded()), promise: nil) }
        channel.flush()
        return true
    }

    private func connect(_ url: String) {
        let now = NIODeadline.now()
        let shouldConnect = connections.withLock { connections -> Bool in
            var connection = connections[url] ?? Connection()
            defer { connections[url] = connection }
            if connection.isConnecting || (connection.channel?.isActive ?? false) || now < connection.retryAt { return false }
            connection.isConnecting = true
            return true
        }
        guard shouldConnect, let (host, port) = Self.hostPort(url) else { return }
        ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(1))
            .channelInitializer { self.pipeline($0) }
            .connect(host: host, port: port)
            .whenComplete { result in
                self.connections.withLock { connections in
                    var connection = connections[url] ?? Connection()
                    connection.isConnecting = false
                    switch result {
                    case .success(let channel):
                        connection.channel = channel
                        connection.backoff = .milliseconds(50)
                    case .failure:
                        connection.retryAt = .now() + connection.backoff
                        connection.backoff = min(connection.backoff * 2, .seconds(1))
                    }
                    connections[url] = connection
                }
            }
    }

    /// Opens a one-off connection (for a join request) and returns it once connected.
    public func dial(_ url: String) async throws -> any Channel {
        guard let (host, port) = Self.hostPort(url) else { throw PeerProtocolError(description: "not a peer address: \(url)") }
        return try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(2))
            .channelInitializer { self.pipeline($0) }
            .connect(host: host, port: port).get()
    }

    /// Closes the listener and every connection.
    public func close() async {
        try? await listener.withLock { $0 }?.close()
        let channels = connections.withLock { connections in connections.values.compactMap(\.channel) }
            + accepted.withLock { Array($0.values) }
        for channel in channels { try? await channel.close() }
    }

    /// `http://host:port` or `host:port` to its parts, by the daemon's own address rules.
    static func hostPort(_ url: String) -> (String, Int)? {
        (try? V1Flags.hostPort(url, flag: "peer")).map { ($0.host, $0.port) }
    }
}
