import NIOCore
import NIOHTTP2

/// `--grpc-keepalive-min-time`, `--grpc-keepalive-interval` and `--grpc-keepalive-timeout`:
/// the connection-level keepalive rules etcd's gRPC server (grpc-go) applies, behind the
/// HTTP/2 handler of each client connection.
///
/// - A client may ping at most once per `minTime`: each ping sooner than that after the
///   previous one is a strike, and past two strikes the connection gets GOAWAY with
///   ENHANCE_YOUR_CALM and "too_many_pings", then is closed (grpc-go's words, which clients
///   recognise and back off from). Strikes add up however far apart the pings between them:
///   only a HEADERS or DATA frame the server wrote since the last ping forgives them
///   (`WriteActivity`), as in grpc-go, whose clients ping to measure the bandwidth each time data
///   arrives (BDP pings), many times a second under load; counting those closed busy connections.
///   A client that alternates pings too soon with polite ones is still closed on the third.
///   The same least distance holds without calls in flight; grpc-go, as etcd 3.4 configures it,
///   asks 2 hours then (a watch is a call: etcdctl pings an idle one every ~10 s, allowed by both).
/// - A connection silent for `interval` is pinged; no answer within `timeout` closes it, so a
///   client that vanished without a FIN does not hold its watches forever.
///
/// Clocks are the event loop's (`EventLoop.now`), so tests drive them with an embedded loop.
final class KeepalivePolicy: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    struct Settings: Sendable {
        var minTime: TimeAmount = .seconds(5)
        var interval: TimeAmount = .hours(2)
        var timeout: TimeAmount = .seconds(20)
    }

    static let maxStrikes = 2
    static let pingData = HTTP2PingData(withInteger: 0x6574_6364)  // "etcd"

    private let settings: Settings
    private let activity: ServerActivity
    private var lastPing: NIODeadline?
    private var strikes = 0
    private var lastHeard = NIODeadline.now()
    private var check: Scheduled<Void>?
    private var unanswered: Scheduled<Void>?

    init(_ settings: Settings, activity: ServerActivity = ServerActivity()) {
        self.settings = settings
        self.activity = activity
    }


    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        unanswered?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let now = context.eventLoop.now
        lastHeard = now
        // Armed by the first frame: a connection that turned out to be HTTP/1 (the v1 API, whose
        // long polls have no timeout) never brings one here.
        if check == nil { scheduleCheck(context: context, in: settings.interval) }
        if case .ping(let payload, let isAck) = frame.payload {
            if isAck {
                if payload == Self.pingData { unanswered?.cancel() }
            } else if judge(pingAt: now) {
                let goAway = HTTP2Frame(
                    streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .enhanceYourCalm, opaqueData: ByteBuffer(string: "too_many_pings")))
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(goAway)).whenComplete { _ in channel.close(promise: nil) }
                return
            }
        }
        context.fireChannelRead(data)
    }

    /// Records a client's ping at `now`; true once it has pinged too often.
    func judge(pingAt now: NIODeadline) -> Bool {
        defer { lastPing = now }
        if activity.hasSpoken {
            activity.hasSpoken = false
            strikes = 0
            return false
        }
        if let last = lastPing, now - last < settings.minTime { strikes += 1 }
        return strikes > Self.maxStrikes
    }

    private func scheduleCheck(context: ChannelHandlerContext, in delay: TimeAmount) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = bound.value
            handler.checkIdle(context: context)
        }
    }

    private func checkIdle(context: ChannelHandlerContext) {
        let silent = context.eventLoop.now - lastHeard
        guard silent >= settings.interval else { return scheduleCheck(context: context, in: settings.interval - silent) }
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .ping(Self.pingData, ack: false))), promise: nil)
        let channel = context.channel
        unanswered?.cancel()
        unanswered = context.eventLoop.scheduleTask(in: settings.timeout) { channel.close(promise: nil) }
        scheduleCheck(context: context, in: settings.interval)
    }
}

/// Whether the server wrote headers or data on any stream of one connection since the client's
/// last ping. Set by the connection's `WriteActivity`, read by its `KeepalivePolicy`;
/// `@unchecked Sendable` because a connection's handlers share one event loop, and only that
/// loop touches it.
final class ServerActivity: @unchecked Sendable {
    var hasSpoken = false
}

/// Told by the connection's `NIOHTTP2Handler` of every frame as it goes out, after flow
/// control: a HEADERS or DATA frame is the server speaking. grpc-go forgives a ping after each
/// data frame it writes, and a large answer goes out in many: the client's window lets the
/// handler send one piece, the client pings (to size its window) and opens the window, the next
/// piece goes. Marking the answer once, when a stream wrote it whole, forgave only the first
/// of those pings; three more within the minimum time ended the connection (GOAWAY
/// too_many_pings), and etcdctl, retrying from the start each time, gave up on a 1.4 MB value
/// after about 3 s.
struct WriteActivity: NIOHTTP2FrameDelegate {
    let activity: ServerActivity

    func wroteFrame(_ frame: HTTP2Frame) {
        switch frame.payload {
        case .headers, .data: activity.hasSpoken = true
        default: break
        }
    }
}
