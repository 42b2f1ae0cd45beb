import GRPCCore
import NIOHPACK
import NIOHTTP2
import Synchronization
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import SingleNode

/// One client port for both APIs, as etcd does with cmux, and the gRPC server transport behind
/// it: every connection gets an HTTP/2 pipeline, with a sniffer in front that holds back
/// `channelActive` and looks at the first bytes. HTTP/2's connection preface means gRPC: the
/// sniffer lets the connection become active and steps aside. Anything else is an HTTP/1
/// client of the v1 API: its handlers go in front of the HTTP/2 ones, which never become active
/// and whose writes are dropped.
///
/// (The obvious design, reading first and then choosing a pipeline, cannot work with an async
/// bootstrap: the channel is registered, and can read, only after its initializer returns.)
///
/// Behind the HTTP/2 handler, `UnaryFastPath` serves the KV calls from the connection's frames;
/// every other stream gets a channel with `GRPCStreamBridge`, which hands the call to
/// grpc-swift's server (routing, interceptors, the generated service code) as a task. This is
/// grpc-swift's `ServerTransport` contract written for this port, rather than grpc-swift's own
/// HTTP/2 transport, because that one gives every stream a task, an async channel and its
/// handlers before anyone knows the method: for a put, more CPU than the put itself.
final class ClientPortTransport: ServerTransport {
    typealias Bytes = [UInt8]

    struct Settings: Sendable {
        var host: String
        var port: Int
        /// A Unix domain socket to listen on instead of `host:port` (`unix://` and `unixs://`
        /// in `--listen-client-urls`).
        var unixSocketPath: String? = nil
        /// Stage 3's TLS handlers, if the port uses TLS.
        var tls: ConnectionSetup?
        var v1: V1HTTPService
        var group: any EventLoopGroup
        var fastPath: UnaryRoutes
        var metrics: GRPCMetrics?
        /// The largest gRPC message taken: etcd's `--max-request-bytes` plus 512 KiB for the
        /// rest of the request (etcd's grpcOverheadBytes); the 1.5 MiB rule is the backend's.
        var maxRequestSize = 2 << 20
        /// `--max-concurrent-streams`: HTTP/2 streams a client may have open on one
        /// connection; nil sends no limit (etcd's default, math.MaxUint32).
        var maxConcurrentStreams: Int?
        /// The `--grpc-keepalive-*` rules for each connection.
        var keepalive = KeepalivePolicy.Settings()
        /// HTTP/2 flow control: how much a client may send on a stream (and on the connection)
        /// before it waits for the server to read. A 1.5 MiB put goes in one window.
        var targetWindowSize = 2 << 20
    }

    private struct State {
        var listener: (any Channel)?
        var connections: [ObjectIdentifier: Connection] = [:]
        var calls: AsyncStream<GRPCStreamBridge.Call>.Continuation?
        var isShuttingDown = false
    }

    private let settings: Settings
    private let state = Mutex(State())
    private let bound: EventLoopPromise<SocketAddress>

    init(_ settings: Settings) {
        self.settings = settings
        bound = settings.group.next().makePromise()
    }

    /// The address bound, once `listen` has bound it.
    var listeningAddress: SocketAddress {
        get async throws { try await bound.futureResult.get() }
    }

    func listen(streamHandler: @escaping @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void) async throws {
        let (calls, continuation) = AsyncStream<GRPCStreamBridge.Call>.makeStream()
        state.withLock { $0.calls = continuation }
        let listener: any Channel
        do {
            let bootstrap = ServerBootstrap(group: settings.group)
                .serverChannelOption(.backlog, value: 1024)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { [self] channel in channel.eventLoop.makeCompletedFuture { try self.configure(channel) } }
            if let path = settings.unixSocketPath {
                // etcd removes a socket file left by a member that died, and so do we.
                listener = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            } else {
                listener = try await bootstrap
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .bind(host: settings.host, port: settings.port).get()
            }
        } catch {
            bound.fail(error)
            throw error
        }
        let closeNow = state.withLock { state in
            state.listener = listener
            return state.isShuttingDown
        }
        if closeNow { listener.close(promise: nil) }
        bound.succeed(listener.localAddress!)
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                for await call in calls {
                    group.addTask { await Self.run(call, streamHandler) }
                }
            }
            // Every bridged call has ended: each connection closes once its last stream (a KV
            // call on the fast path, say) has been answered.
            let open = state.withLock { Array($0.connections.values) }
            for connection in open { connection.closeWhenIdle() }
            for connection in open { try? await connection.channel.closeFuture.get() }
        } onCancel: {
            // Out of time: a call blocked writing to a client that stopped reading ends when
            // its connection does.
            self.beginGracefulShutdown()
            for connection in self.state.withLock({ Array($0.connections.values) }) { connection.channel.close(promise: nil) }
        }
        try? await listener.closeFuture.get()
    }

    /// Stops accepting connections and new calls (HTTP/2 clients are sent GOAWAY, HTTP/1 ones
    /// closed); calls running go on until they end or `listen`'s task is cancelled.
    func beginGracefulShutdown() {
        let (listener, connections, calls, isFirst) = state.withLock { state in
            defer {
                state.isShuttingDown = true
                state.calls = nil
            }
            return (state.listener, Array(state.connections.values), state.calls, !state.isShuttingDown)
        }
        // Once: a second quiesce event is a programming error to NIO's HTTP/1 pipelining handler
        // (the plain v1 path), which traps on it in debug builds.
        guard isFirst else { return }
        listener?.close(promise: nil)
        calls?.finish()
        for connection in connections { connection.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
    }

    private func configure(_ channel: any Channel) throws {
        try settings.tls?(channel)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(ProtocolSniffer(v1: settings.v1))
        try sync.addHandler(FlushBatcher())
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.targetWindowSize = settings.targetWindowSize
        connection.initialSettings = [
            HTTP2Setting(parameter: .initialWindowSize, value: settings.targetWindowSize),
            HTTP2Setting(parameter: .maxFrameSize, value: 1 << 14),
            HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
        ]
        // grpc-go clients ping each time data arrives to size their windows (BDP pings): over
        // a second of a snapshot or a busy connection that is well past NIOHTTP2's default of
        // 200 PING/SETTINGS frames in 30 s, which then closes the connection ("the connection is
        // draining": `etcdctl snapshot save` of 10 MB failed so). Pings are judged by
        // `KeepalivePolicy` instead, by grpc-go's rules; this stays as a bound on floods.
        connection.controlFrameRateLimit.maximumCount = 1000
        connection.controlFrameRateLimit.windowLength = .milliseconds(100)
        if let limit = settings.maxConcurrentStreams {
            connection.initialSettings.append(HTTP2Setting(parameter: .maxConcurrentStreams, value: limit))
        }
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = settings.targetWindowSize
        let (fastPath, metrics, maxRequestSize) = (settings.fastPath, settings.metrics, settings.maxRequestSize)
        let deliver: @Sendable (GRPCStreamBridge.Call) -> Bool = { [weak self] call in
            guard let continuation = self?.state.withLock({ $0.calls }) else { return false }
            if case .enqueued = continuation.yield(call) { return true }
            return false
        }
        let tracked = Connection(channel: channel)
        let activity = ServerActivity()
        // The HTTP/2 handler, then the KV calls served from its frames, then a channel per
        // stream for every other call. (NIOHTTP2's inline multiplexer would hide the frames.)
        try sync.addHandler(NIOHTTP2Handler(
            mode: .server, frameDelegate: WriteActivity(activity: activity), connectionConfiguration: connection,
            streamConfiguration: stream))
        let hooks = UnaryFastPath.Hooks(
            verifiedName: { tracked.verifiedCommonName }, opened: { tracked.callOpened() }, closed: { tracked.callClosed() })
        try sync.addHandler(UnaryFastPath(routes: fastPath, metrics: metrics, maxRequestSize: maxRequestSize, windowSize: settings.targetWindowSize, hooks: hooks))
        try sync.addHandler(HTTP2StreamMultiplexer(mode: .server, channel: channel, targetWindowSize: settings.targetWindowSize, inboundStreamInitializer: { stream in
            stream.eventLoop.makeCompletedFuture {
                tracked.streamOpened(stream)
                let handlers = stream.pipeline.syncOperations
                try handlers.addHandler(VerifiedNameHeader(commonName: tracked.verifiedCommonName))
                try handlers.addHandler(GRPCStreamBridge(maxMessageSize: maxRequestSize, deliver: deliver))
            }
        }))
        try sync.addHandler(GoAwayOnQuiesce())
        try sync.addHandler(KeepalivePolicy(settings.keepalive, activity: activity))
        let id = ObjectIdentifier(channel)
        state.withLock { $0.connections[id] = tracked }
        channel.closeFuture.whenComplete { [weak self] _ in _ = self?.state.withLock { $0.connections.removeValue(forKey: id) } }
    }

    private static func run(_ call: GRPCStreamBridge.Call, _ handler: @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void) async {
        await withServerContextRPCCancellationHandle { handle in
            call.cancellation.attach(handle)
            let stream = RPCStream(
                descriptor: call.descriptor, inbound: RPCAsyncSequence(wrapping: call.inbound), outbound: RPCWriter.Closable(wrapping: call.outbound))
            let context = ServerContext(descriptor: call.descriptor, remotePeer: call.remotePeer, localPeer: call.localPeer, cancellation: handle)
            await handler(stream, context)
        }
    }
}

/// A client connection and how many HTTP/2 streams it has open, so that a server shutting down
/// closes it once the calls on it are answered. Touched only on the connection's event loop
/// (its streams share it), hence `@unchecked Sendable`.
final class Connection: @unchecked Sendable {
    let channel: any Channel
    private var openStreams = 0
    private var isClosingWhenIdle = false

    init(channel: any Channel) { self.channel = channel }

    /// The verified client certificate's Common Name (`VerifiedNameHeader`), read at the first
    /// stream, after the handshake.
    private var commonName: String??
    var verifiedCommonName: String? {
        channel.eventLoop.preconditionInEventLoop()
        if let commonName { return commonName }
        let found = VerifiedNameHeader.commonName(of: channel)
        commonName = .some(found)
        return found
    }

    func streamOpened(_ stream: any Channel) {
        callOpened()
        stream.closeFuture.whenComplete { _ in self.callClosed() }
    }

    /// A call served without a stream channel (`UnaryFastPath`) began or ended.
    func callOpened() {
        channel.eventLoop.preconditionInEventLoop()
        openStreams += 1
    }

    func callClosed() {
        channel.eventLoop.preconditionInEventLoop()
        openStreams -= 1
        // Not at once: HTTP/2 reports a stream closed while it is still writing the stream's
        // last frames, before it flushes them; closing then would lose the answer.
        channel.eventLoop.execute {
            if self.isClosingWhenIdle && self.openStreams == 0 { self.channel.close(promise: nil) }
        }
    }

    func closeWhenIdle() {
        channel.eventLoop.execute {
            self.isClosingWhenIdle = true
            if self.openStreams == 0 { self.channel.close(promise: nil) }
        }
    }
}

/// After the HTTP/2 handler: a server shutting down tells the client, with GOAWAY, to open no
/// more streams here; the calls running finish.
final class GoAwayOnQuiesce: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil))
        context.writeAndFlush(wrapOutboundOut(goAway), promise: nil)
    }
}

/// Tells gRPC from HTTP/1 by the first bytes of a connection.
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// What every HTTP/2 client sends first (RFC 9113 §3.4); gRPC speaks nothing else.
    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let v1: V1HTTPService
    private var buffered: ByteBuffer?
    private var isActive = false
    private var deadline: Scheduled<Void>?

    init(v1: V1HTTPService) { self.v1 = v1 }

    func channelActive(context: ChannelHandlerContext) {
        // Held back until the protocol is known. A client that never says anything is closed
        // after the v1 idle timeout, as an idle HTTP/1 connection would be.
        isActive = true
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: v1.idleTimeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffered == nil { buffered = incoming } else { buffered!.writeBuffer(&incoming) }
        let seen = buffered!.readableBytesView
        let compared = min(seen.count, Self.preface.count)
        let looksLikeHTTP2 = seen.prefix(compared).elementsEqual(Self.preface.prefix(compared))
        if looksLikeHTTP2 && seen.count < Self.preface.count { return }  // wait for the rest
        deadline?.cancel()
        let bytes = buffered!
        buffered = nil
        if !looksLikeHTTP2 {
            // v1 over HTTP/1: its handlers go between this sniffer and the gRPC handlers, with a
            // silencer behind them. Inserted back to front, each right after this handler.
            do {
                try context.pipeline.syncOperations.addHandler(GRPCSilencer(), position: .after(self))
                try v1.addHandlers(to: context.pipeline.syncOperations, after: self)
            } catch {
                context.close(promise: nil)
                return
            }
        }
        if isActive { context.fireChannelActive() }
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }
}

/// Behind the v1 handlers on an HTTP/1 connection: the gRPC handlers further back must never
/// see the connection as theirs, nor write to it (a keepalive ping, a GOAWAY) or close it. The
/// connection's end still reaches them, so they finish; a server shutdown closes it.
final class GRPCSilencer: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    func channelActive(context: ChannelHandlerContext) {}
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
    func channelReadComplete(context: ChannelHandlerContext) {}
    func errorCaught(context: ChannelHandlerContext, error: any Error) {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server is shutting down: an HTTP/1 connection simply ends.
        if event is ChannelShouldQuiesceEvent { context.close(promise: nil) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.ioOnClosedChannel)
    }

    func flush(context: ChannelHandlerContext) {}

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        promise?.succeed(())
    }
}

/// In front of the HTTP/2 handler: flushes at most once per turn of the event loop. Answers
/// that the Raft loop releases together reach a connection's loop as separate tasks, one per
/// call, and each flushes; deferred to the end of the queue, one write system call carries
/// them all (one member, 256 putting clients: 8-18% more puts per second in three alternating
/// pairs of runs; one client: no change).
final class FlushBatcher: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny

    private var isFlushScheduled = false
    private var isRemoved = false

    func flush(context: ChannelHandlerContext) {
        guard !isFlushScheduled else { return }
        isFlushScheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = bound.value
            handler.flushNow(context: context)
        }
    }

    private func flushNow(context: ChannelHandlerContext) {
        guard isFlushScheduled, !isRemoved else { return }
        isFlushScheduled = false
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // What was written before a close (a GOAWAY, an answer) goes out before it, whether or
        // not a flush was asked for yet.
        isFlushScheduled = false
        context.flush()
        context.close(mode: mode, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        isRemoved = true
    }
}
