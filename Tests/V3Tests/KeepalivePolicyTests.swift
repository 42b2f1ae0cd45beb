import NIOCore
import NIOEmbedded
import NIOHPACK
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

    @Test("Polite pings between the offences do not forgive them (grpc-go counts on): the third too soon ends the connection")
    func politePingsDoNotForgive() throws {
        try ping(after: .seconds(6))
        for _ in 0..<2 {
            try ping(after: .seconds(1))  // a strike
            try ping(after: .seconds(6))  // polite, and no answer written between
        }
        #expect(try sentGoAway() == nil)  // two strikes are forgiven
        try ping(after: .seconds(1))
        #expect(try sentGoAway()?.1 == "too_many_pings")
        #expect(!channel.isActive)
    }

    @Test("An answer written since the last ping forgives the strikes")
    func anAnswerForgives() throws {
        try ping(after: .seconds(6))
        for _ in 0..<2 { try ping(after: .seconds(1)) }
        activity.hasSpoken = true  // as `WriteActivity` records a HEADERS or DATA frame written
        for _ in 0..<3 { try ping(after: .seconds(1)) }
        #expect(try sentGoAway() == nil)  // the first after the answer is free, then two strikes
        try ping(after: .seconds(1))
        #expect(try sentGoAway()?.1 == "too_many_pings")
    }

    @Test("Pings during a long answer are forgiven: each piece NIOHTTP2 sends as the client's window opens counts (grpc-go's BDP pings)")
    func pingsDuringALongAnswerAreForgiven() throws {
        // A real HTTP/2 connection on the embedded loop: the server's handler tells the policy
        // of what it writes, as the client port's does. The client, as grpc-go's, pings each
        // time data comes (to size its window), then opens the window by what it read.
        let server = EmbeddedChannel(loop: loop)
        let serverActivity = ServerActivity()
        try server.pipeline.syncOperations.addHandler(NIOHTTP2Handler(mode: .server, frameDelegate: WriteActivity(activity: serverActivity)))
        try server.pipeline.syncOperations.addHandler(
            KeepalivePolicy(.init(minTime: .seconds(5), interval: .seconds(60), timeout: .seconds(20)), activity: serverActivity))
        let client = EmbeddedChannel(handler: NIOHTTP2Handler(mode: .client), loop: loop)
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2379)).wait()
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2379)).wait()
        var goAway: String?
        var dataReceived = 0
        // Bytes each way until neither has anything to send; notes what the client heard.
        func exchange() throws {
            var moved = true
            while moved {
                moved = false
                while let bytes = try client.readOutbound(as: IOData.self) {
                    guard case .byteBuffer(let buffer) = bytes else { continue }
                    try server.writeInbound(buffer)
                    moved = true
                }
                while try server.readInbound(as: HTTP2Frame.self) != nil {}
                while let bytes = try server.readOutbound(as: IOData.self) {
                    guard case .byteBuffer(let buffer) = bytes else { continue }
                    try client.writeInbound(buffer)
                    moved = true
                }
                while let frame = try client.readInbound(as: HTTP2Frame.self) {
                    switch frame.payload {
                    case .data(let data): dataReceived += data.data.readableBytes
                    case .goAway(_, _, let opaque): goAway = opaque.map { String(buffer: $0) } ?? ""
                    default: break
                    }
                }
            }
        }
        try exchange()
        let stream = HTTP2StreamID(1)
        let request: HPACKHeaders = [":method": "POST", ":scheme": "http", ":path": "/etcdserverpb.KV/Range", ":authority": "a"]
        try client.writeAndFlush(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: request, endStream: true)))).wait()
        try exchange()
        // One answer of 1 MiB, written whole: far more than the client's first window.
        let size = 1 << 20
        server.write(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: [":status": "200"]))), promise: nil)
        server.write(HTTP2Frame(streamID: stream, payload: .data(.init(data: .byteBuffer(ByteBuffer(repeating: 7, count: size))))), promise: nil)
        server.writeAndFlush(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: [:], endStream: true))), promise: nil)
        try exchange()
        var pings = 0, windowOpened = 0
        while dataReceived < size && goAway == nil && pings < 1000 {
            loop.advanceTime(by: .milliseconds(10))
            client.write(HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: UInt64(pings)), ack: false)), promise: nil)
            pings += 1
            let read = dataReceived - windowOpened
            windowOpened = dataReceived
            if read > 0 {  // (an increment of 0 is a protocol error)
                client.write(HTTP2Frame(streamID: stream, payload: .windowUpdate(windowSizeIncrement: read)), promise: nil)
                client.write(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: read)), promise: nil)
            }
            client.flush()
            try exchange()
        }
        #expect(goAway == nil)
        #expect(dataReceived == size)
        #expect(pings > 3, "the answer came in several pieces, each after a ping")
        // Once the server is quiet, pings that come too often are refused again.
        for more in 0..<4 {
            loop.advanceTime(by: .milliseconds(10))
            client.writeAndFlush(HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: UInt64(1000 + more)), ack: false)), promise: nil)
            try exchange()
        }
        #expect(goAway == "too_many_pings")
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
