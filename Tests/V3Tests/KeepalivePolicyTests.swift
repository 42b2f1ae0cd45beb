import NIOCore
import NIOEmbedded
import NIOHTTP2
import Testing

@testable import V3

/// The `--grpc-keepalive-*` rules on a client connection, driven by the embedded loop's clock.
@Suite("gRPC keepalive: pings from clients, and pings to silent clients", .timeLimit(.minutes(3)))
struct KeepalivePolicyTests {
    let loop = EmbeddedEventLoop()
    let channel: EmbeddedChannel
    let activity = ServerActivity()

    init() throws {
        channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(
            KeepalivePolicy(.init(minTime: .seconds(5), interval: .seconds(60), timeout: .seconds(20)), activity: activity))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2379)).wait()
    }

    func ping(after delay: TimeAmount) throws {
        loop.advanceTime(by: delay)
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: 7), ack: false)))
    }

    func sentGoAway() throws -> (HTTP2ErrorCode, String)? {
        while let frame = try channel.readOutbound(as: HTTP2Frame.self) {
            if case .goAway(_, let code, let data) = frame.payload { return (code, data.map { String(buffer: $0) } ?? "") }
        }
        return nil
    }

    @Test("Pings farther apart than the minimum are fine, however many")
    func politeClient() throws {
        for _ in 0..<10 { try ping(after: .seconds(6)) }
        #expect(try sentGoAway() == nil)
        #expect(channel.isActive)
    }

    @Test("A third ping too soon past the first offence gets GOAWAY ENHANCE_YOUR_CALM too_many_pings, and the connection ends")
    func floodingClient() throws {
        try ping(after: .seconds(1))
        for _ in 0..<2 { try ping(after: .seconds(1)) }
        #expect(try sentGoAway() == nil)  // two strikes are forgiven
        try ping(after: .seconds(1))
        let goAway = try #require(try sentGoAway())
        #expect(goAway.0 == .enhanceYourCalm)
        #expect(goAway.1 == "too_many_pings")
        #expect(!channel.isActive)
    }

    @Test("Pings that follow what the server sent are forgiven however often (grpc-go's BDP pings under load)")
    func pingsAfterDataAreForgiven() throws {
        // A stream's write passes its marker, as in every stream the client port opens.
        let stream = EmbeddedChannel(handler: ActivityMarker(activity), loop: loop)
        for _ in 0..<20 {
            try stream.writeOutbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(string: "x")))))
            try ping(after: .milliseconds(10))
        }
        #expect(try sentGoAway() == nil)
        #expect(channel.isActive)
        // Once the server goes quiet, the rule applies again.
        for _ in 0..<4 { try ping(after: .milliseconds(10)) }
        #expect(try sentGoAway()?.1 == "too_many_pings")
    }

    @Test("A ping that keeps its distance forgives earlier strikes")
    func forgiven() throws {
        try ping(after: .seconds(1))
        for _ in 0..<2 { try ping(after: .seconds(1)) }
        try ping(after: .seconds(6))
        for _ in 0..<2 { try ping(after: .seconds(1)) }
        #expect(try sentGoAway() == nil)
    }

    @Test("A connection silent for the interval is pinged, and closed if the answer does not come in time")
    func silentClient() throws {
        try ping(after: .zero)  // a client's first frame arms the check (an HTTP/1 connection brings none)
        loop.advanceTime(by: .seconds(59))
        #expect(try channel.readOutbound(as: HTTP2Frame.self) == nil)
        loop.advanceTime(by: .seconds(1))
        let probe = try #require(try channel.readOutbound(as: HTTP2Frame.self))
        guard case .ping(let data, ack: false) = probe.payload else { Issue.record("expected a ping, got \(probe.payload)"); return }
        #expect(data == KeepalivePolicy.pingData)
        loop.advanceTime(by: .seconds(19))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test("An HTTP/1 connection, which brings no HTTP/2 frame, is never pinged or closed")
    func http1Connection() throws {
        loop.advanceTime(by: .hours(5))
        #expect(try channel.readOutbound(as: HTTP2Frame.self) == nil)
        #expect(channel.isActive)
    }

    @Test("A client that answers the ping stays")
    func answeringClient() throws {
        try ping(after: .zero)
        loop.advanceTime(by: .seconds(60))
        _ = try channel.readOutbound(as: HTTP2Frame.self)
        loop.advanceTime(by: .seconds(5))
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .ping(KeepalivePolicy.pingData, ack: true)))
        loop.advanceTime(by: .seconds(30))
        #expect(channel.isActive)
    }
}
