import Logging
import NIOCore
import NIOPosix
import SingleNode
import RaftCore
import Synchronization

/// Splits the byte stream from a peer into frames: `u32 length` (little-endian), then the body.
/// On a connection a peer opened to us, the preamble and the peer's cluster ID come first:
/// anything else is named and refused at once, rather than read as a frame length and waited on.
final class PeerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = PeerFrame
    // Set on accepted connections: this member's cluster ID, read when a peer's arrives.
    private var localClusterID: (@Sendable () -> UInt64)?

    init(localClusterID: (@Sendable () -> UInt64)?) { self.localClusterID = localClusterID }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if let localClusterID {
            let preamble = PeerFrame.preamble
            let seen = buffer.readableBytesView.prefix(preamble.count)
            guard seen.elementsEqual(preamble.prefix(seen.count)) else { throw PeerProtocolError(description: Self.stranger(Array(seen))) }
            guard buffer.readableBytes >= preamble.count + 8,
                let remote = buffer.getInteger(at: buffer.readerIndex + preamble.count, endianness: .little, as: UInt64.self)
            else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: preamble.count + 8)
            self.localClusterID = nil
            let local = localClusterID()
            // 0 is a member that does not know yet (it is joining): let it ask.
            if local != 0 && remote != 0 && local != remote {
                let reason = ClusterIdentity.mismatch(local: local, remote: remote)
                context.writeAndFlush(NIOAny(ByteBuffer(bytes: PeerFrame.refused(reason).encoded())), promise: nil)
                throw PeerProtocolError(description: reason)
            }
        }
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= PeerFrame.maxFrameBytes else { throw PeerProtocolError(description: "frame of \(length) bytes") }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let bytes = buffer.readBytes(length: Int(length))!
        guard let frame = PeerFrame.decode(bytes[...]) else { throw PeerProtocolError(description: "malformed frame") }
        if case .raft(let message) = frame { RaftMetrics.received(4 + Int(length), from: message.from) }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    /// Names what connected instead of a peer, from its first bytes.
    static func stranger(_ bytes: [UInt8]) -> String {
        if bytes.count >= 2, bytes[0] == 0x16, bytes[1] == 0x03 {
            return "a TLS handshake arrived at this plaintext peer port: a member runs with peer TLS and this one without; start every member with the same peer TLS flags"
        }
        if let first = bytes.first, (0x41...0x5A).contains(first) {
            return "an HTTP request arrived at the peer port: clients belong on the client port"
        }
        if bytes.starts(with: Array("etcd-swift-peer/".utf8)) {
            return "a member of another version of this etcd (peer protocol \(String(decoding: bytes.dropFirst(16).prefix { $0 != 0x0A }, as: UTF8.self)), this one speaks \(String(decoding: PeerFrame.preamble.dropFirst(16).dropLast(), as: UTF8.self))): upgrade every member to the same build"
        }
        return "not an etcd peer (its first bytes are not the peer preamble)"
    }
}

struct PeerProtocolError: Error, CustomStringConvertible {
    var description: String
}

/// What a later stage adds to every peer connection before the frame handlers (Stage 3: TLS).
/// Both run on the connection's event loop; throwing refuses the connection.
public struct PeerSecurity: Sendable {
    /// For connections peers open to this member.
    public var accept: @Sendable (any Channel) throws -> Void
    /// For connections this member opens; `host` is the peer's, for checking its certificate.
    public var dial: @Sendable (any Channel, _ host: String) throws -> Void

    /// Makes the pair.
    public init(
        accept: @escaping @Sendable (any Channel) throws -> Void, dial: @escaping @Sendable (any Channel, _ host: String) throws -> Void
    ) {
        self.accept = accept
        self.dial = dial
    }
}

/// Writes the preamble and this member's cluster ID as soon as a connection it dialed is up.
final class PreambleWriter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let clusterID: @Sendable () -> UInt64

    init(clusterID: @escaping @Sendable () -> UInt64) { self.clusterID = clusterID }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = ByteBuffer(bytes: PeerFrame.preamble)
        buffer.writeInteger(clusterID(), endianness: .little)
        context.writeAndFlush(NIOAny(buffer), promise: nil)
        context.fireChannelActive()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Hands each frame from a peer to the transport's receiver, with the connection to answer on.
final class PeerFrameHandler: ChannelInboundHandler {
    typealias InboundIn = PeerFrame
    let receive: PeerReceiver
    let logger: Logger

    init(logger: Logger, receive: @escaping PeerReceiver) {
        self.logger = logger
        self.receive = receive
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if case .refused(let reason) = frame {
            logger.error("a peer refused this member's connection", metadata: ["remote": "\(context.remoteAddress.logText)", "reason": "\(reason)"])
            // The member hears why too (it may have been removed from the cluster).
            receive(frame, ChannelPeerConnection(channel: context.channel))
            context.close(promise: nil)
            return
        }
        receive(frame, ChannelPeerConnection(channel: context.channel))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Not our protocol (or a broken peer): say who, then hang up.
        logger.warning("closing peer connection", metadata: ["remote": "\(context.remoteAddress.logText)", "error": "\(error)"])
        context.close(promise: nil)
    }
}

/// Connections to peers: one persistent TCP connection each, reconnected with backoff, frames
/// written back to back and flushed once per batch. Also the listener peers connect to.
public final class PeerTransport: PeerNetwork {
    private let group: any EventLoopGroup
    private let logger: Logger
    private let receive: PeerReceiver
    private let security: PeerSecurity?
    private let cluster = Mutex<UInt64>(0)
    private let connections = Mutex<[String: Connection]>([:])
    private let listeners = Mutex<[any Channel]>([])
    // Connections peers opened to us, so closing ends them too.
    private let accepted = Mutex<[ObjectIdentifier: any Channel]>([:])

    private struct Connection {
        var channel: (any Channel)?
        var isConnecting = false
        // When the next attempt may start, after failures; grows to 1 s.
        var retryAt = NIODeadline.uptimeNanoseconds(0)
        var backoff = TimeAmount.milliseconds(50)
    }

    /// Makes a transport that hands every inbound frame to `receive`; `security`, if given,
    /// wraps every connection (TLS).
    public init(
        group: any EventLoopGroup, logger: Logger, security: PeerSecurity? = nil,
        receive: @escaping PeerReceiver
    ) {
        self.group = group
        self.logger = logger
        self.security = security
        self.receive = receive
    }

    /// The cluster this member belongs to (0 until known), sent to and checked against peers.
    public var clusterID: UInt64 {
        get { cluster.withLock { $0 } }
        set { cluster.withLock { $0 = newValue } }
    }

    /// A connection's handlers; `dialedHost` is set on connections this member opened.
    /// `plaintext`: an `http://` URL, which etcd serves and dials without TLS even when the peer
    /// port has certificates (so a cluster can move from http to https a member at a time).
    private func pipeline(_ channel: any Channel, dialedHost: String?, plaintext: Bool) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            let handlers = channel.pipeline.syncOperations
            let clusterID: @Sendable () -> UInt64 = { self.clusterID }
            let security = plaintext ? nil : self.security
            if let dialedHost {
                try security?.dial(channel, dialedHost)
                try handlers.addHandler(PreambleWriter(clusterID: clusterID))
            } else {
                try security?.accept(channel)
            }
            try handlers.addHandler(ByteToMessageHandler(PeerFrameDecoder(localClusterID: dialedHost == nil ? clusterID : nil)))
            try handlers.addHandler(PeerFrameHandler(logger: self.logger, receive: self.receive))
        }
    }

    /// Listens for peers on `host:port`; returns the bound port. A member may listen on several
    /// (etcd serves every URL of `--listen-peer-urls`); `plaintext` ones skip the security.
    public func listen(host: String, port: Int, plaintext: Bool = false) async throws -> Int {
        do {
            return try await bind(host: host, port: port, plaintext: plaintext)
        } catch {
            throw ListenError(description: "cannot listen for peers on \(host):\(port): \(error) (is another etcd using the port? choose another with -s)")
        }
    }

    private func bind(host: String, port: Int, plaintext: Bool) async throws -> Int {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let key = ObjectIdentifier(channel)
                self.accepted.withLock { $0[key] = channel }
                channel.closeFuture.whenComplete { _ in _ = self.accepted.withLock { $0.removeValue(forKey: key) } }
                return self.pipeline(channel, dialedHost: nil, plaintext: plaintext)
            }
            .bind(host: host, port: port).get()
        listeners.withLock { $0.append(channel) }
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
        var bytes = 0
        for frame in frames {
            let encoded = frame.encoded()
            bytes += encoded.count
            channel.write(ByteBuffer(bytes: encoded), promise: nil)
        }
        channel.flush()
        if case .raft(let message) = frames[0] { RaftMetrics.sent(bytes, to: message.to) }
        return true
    }

    /// Whether the connection to `url` is up now (a peer that crashed closed it).
    public func isConnected(to url: String) -> Bool {
        connections.withLock { $0[url]?.channel?.isActive ?? false }
    }

    /// Opens the connection to `url` now if there is none, so the first message need not be
    /// dropped: a learner just promoted must reach voters it never talked to when it campaigns.
    public func prepareConnection(to url: String) { connect(url) }

    private func connect(_ url: String) {
        let now = NIODeadline.now()
        let shouldConnect = connections.withLock { connections -> Bool in
            var connection = connections[url] ?? Connection()
            defer { connections[url] = connection }
            if connection.isConnecting || (connection.channel?.isActive ?? false) || now < connection.retryAt { return false }
            connection.isConnecting = true
            return true
        }
        guard shouldConnect, let (host, port) = PeerAddress.hostPort(url) else { return }
        ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(1))
            .channelInitializer { self.pipeline($0, dialedHost: host, plaintext: Self.isPlaintext(url)) }
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

    /// Opens a one-off connection (a join request, a question, a snapshot stream) and returns
    /// it once connected.
    public func dial(_ url: String, connectTimeout: TimeAmount = .seconds(2)) async throws -> any PeerConnection {
        guard let (host, port) = PeerAddress.hostPort(url) else { throw PeerProtocolError(description: "not a peer address: \(url)") }
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelInitializer { self.pipeline($0, dialedHost: host, plaintext: Self.isPlaintext(url)) }
            .connect(host: host, port: port).get()
        return ChannelPeerConnection(channel: channel)
    }

    /// An `http://` peer URL is dialed without TLS, as etcd dials each URL by its scheme;
    /// `https://` and a bare `host:port` (the original `-C`) use the security, if any.
    static func isPlaintext(_ url: String) -> Bool { url.hasPrefix("http://") }

    /// Closes the listener and every connection.
    public func close() async {
        for listener in listeners.withLock({ $0 }) { try? await listener.close() }
        let channels = connections.withLock { connections in connections.values.compactMap(\.channel) }
            + accepted.withLock { Array($0.values) }
        for channel in channels { try? await channel.close() }
    }
}
