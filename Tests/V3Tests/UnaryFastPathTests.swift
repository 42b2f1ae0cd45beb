import EtcdAPI
import Foundation
import GRPCCore
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import SwiftProtobuf
import Testing

@testable import V3

/// The KV fast path on a connection's HTTP/2 frames: what gRPC clients send in, what they must
/// get out, and what it leaves to the stream multiplexer (and so to grpc-swift).
@Suite("The unary fast path, frame by frame", .timeLimit(.minutes(3)))
struct UnaryFastPathTests {
    /// Frames that went past the fast path, to the handlers behind it (the multiplexer's).
    final class Behind: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTP2Frame
        var frames: [HTTP2Frame] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { frames.append(unwrapInboundIn(data)) }
    }

    /// A connection with the fast path in front of a recorder. Put answers with the key's length
    /// as the revision, or fails with `failure`, or (`holds`) waits for `release`; `refusal`
    /// refuses every call if set.
    struct Connection {
        let channel = EmbeddedChannel()
        let behind = Behind()
        let calls = NIOLockedValueBox(0)
        let callers = NIOLockedValueBox<[AuthInfo?]>([])
        let names = NIOLockedValueBox<[String?]>([])
        let held = NIOLockedValueBox<[EventLoopPromise<Etcdserverpb_PutResponse>]>([])
        let open = NIOLockedValueBox(0)

        init(
            failure: RPCError? = nil, refusal: RPCError? = nil, maxRequestSize: Int = 1024, windowSize: Int = 65_535,
            verifiedName: String? = nil, holds: Bool = false
        ) throws {
            let (calls, callers, names, held, open) = (self.calls, self.callers, self.names, self.held, self.open)
            let put = UnaryRoute("etcdserverpb.KV", "Put") { (request: Etcdserverpb_PutRequest, loop, caller) -> EventLoopFuture<Etcdserverpb_PutResponse> in
                calls.withLockedValue { $0 += 1 }
                callers.withLockedValue { $0.append(caller) }
                if let failure { return loop.makeFailedFuture(failure) }
                if holds {
                    let promise = loop.makePromise(of: Etcdserverpb_PutResponse.self)
                    held.withLockedValue { $0.append(promise) }
                    return promise.futureResult
                }
                var response = Etcdserverpb_PutResponse()
                response.header.revision = Int64(request.key.count)
                return loop.makeSucceededFuture(response)
            }
            // A token "bad" is unknown; any other names its user.
            let routes = UnaryRoutes([put], refusal: { _, _ in refusal }, identify: { headers throws(RPCError) in
                names.withLockedValue { $0.append(headers.first(name: CallIdentity.commonNameHeader)) }
                guard let token = headers.first(name: "token") else { return nil }
                if token == "bad" { throw V3Backend.rpcError(V3Error.invalidAuthToken) }
                return AuthInfo(user: token, revision: 1)
            })
            let hooks = UnaryFastPath.Hooks(
                verifiedName: { verifiedName }, opened: { open.withLockedValue { $0 += 1 } }, closed: { open.withLockedValue { $0 -= 1 } })
            try channel.pipeline.syncOperations.addHandler(
                UnaryFastPath(routes: routes, metrics: nil, maxRequestSize: maxRequestSize, windowSize: windowSize, hooks: hooks))
            try channel.pipeline.syncOperations.addHandler(behind)
        }

        func send(_ payload: HTTP2Frame.FramePayload, on stream: Int = 1) throws {
            try channel.writeInbound(HTTP2Frame(streamID: HTTP2StreamID(stream), payload: payload))
        }

        /// What was written, every frame on `stream`.
        func written(on stream: Int = 1) throws -> [HTTP2Frame.FramePayload] {
            try writtenFrames().filter { $0.streamID == HTTP2StreamID(stream) }.map(\.payload)
        }

        func writtenFrames() throws -> [HTTP2Frame] {
            var frames: [HTTP2Frame] = []
            while let frame = try channel.readOutbound(as: HTTP2Frame.self) { frames.append(frame) }
            return frames
        }

        /// HTTP/2 closed the stream (both sides ended, or a reset).
        func close(_ stream: Int = 1) {
            channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: HTTP2StreamID(stream), reason: .cancel))
        }
    }

    static func headers(path: String = "/etcdserverpb.KV/Put", extra: [(String, String)] = [], endStream: Bool = false) -> HTTP2Frame.FramePayload {
        var headers: HPACKHeaders = [":method": "POST", ":scheme": "http", ":path": path, "content-type": "application/grpc", "te": "trailers"]
        for (name, value) in extra { headers.add(name: name, value: value) }
        return .headers(.init(headers: headers, endStream: endStream))
    }

    static func framed(_ message: [UInt8], compressed: UInt8 = 0) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(compressed)
        buffer.writeInteger(UInt32(message.count))
        buffer.writeBytes(message)
        return buffer
    }

    static func putRequest(key: String) throws -> [UInt8] {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data("v".utf8)
        return try request.serializedBytes()
    }

    static func data(_ buffer: ByteBuffer, endStream: Bool = true) -> HTTP2Frame.FramePayload {
        .data(.init(data: .byteBuffer(buffer), endStream: endStream))
    }

    /// The status of a trailers-only answer (one HEADERS frame ending the stream), and whether
    /// a RST_STREAM with NO_ERROR followed it (an answer given before the request ended).
    static func status(_ frames: [HTTP2Frame.FramePayload]) -> (code: String?, message: String?, reset: Bool) {
        guard let first = frames.first, case .headers(let only) = first, only.endStream else { return (nil, nil, false) }
        let (code, message) = (only.headers.first(name: "grpc-status"), only.headers.first(name: "grpc-message"))
        if frames.count == 1 { return (code, message, false) }
        if frames.count == 2, case .rstStream(.noError) = frames[1] { return (code, message, true) }
        return (nil, nil, false)
    }

    @Test("A call is answered with headers, one length-prefixed message and an OK status")
    func answersACall() throws {
        let stream = try Connection()
        try stream.send(Self.headers())
        // Split across two DATA frames, as a client may send it.
        var request = Self.framed(try Self.putRequest(key: "abcdef"))
        let first = request.readSlice(length: 3)!
        try stream.send(Self.data(first, endStream: false))
        try stream.send(Self.data(request))
        let frames = try stream.written()
        #expect(frames.count == 3)
        guard frames.count == 3, case .headers(let head) = frames[0], case .data(let body) = frames[1], case .headers(let trailers) = frames[2],
              case .byteBuffer(var bytes) = body.data
        else { Issue.record("unexpected frames: \(frames)"); return }
        #expect(head.headers.first(name: ":status") == "200")
        #expect(head.headers.first(name: "content-type") == "application/grpc")
        #expect(!head.endStream)
        #expect(bytes.readInteger(as: UInt8.self) == 0)
        let length = bytes.readInteger(as: UInt32.self)
        #expect(length.map(Int.init) == bytes.readableBytes)
        let response = try Etcdserverpb_PutResponse(serializedBytes: Array(bytes.readableBytesView))
        #expect(response.header.revision == 6)
        #expect(trailers.endStream)
        #expect(trailers.headers.first(name: "grpc-status") == "0")
        #expect(stream.behind.frames.isEmpty)
        #expect(stream.calls.withLockedValue { $0 } == 1)
    }

    @Test("A failed call is one trailers-only HEADERS frame with etcd's code and exact text")
    func answersAnError() throws {
        let stream = try Connection(failure: RPCError(code: .outOfRange, message: "etcdserver: mvcc: required revision has been compacted"))
        try stream.send(Self.headers())
        try stream.send(Self.data(Self.framed(try Self.putRequest(key: "k"))))
        let (code, message, reset) = Self.status(try stream.written())
        #expect(!reset)
        #expect(code == "11")
        #expect(message == "etcdserver: mvcc: required revision has been compacted")
    }

    @Test("Other methods, compressed and JSON requests go to grpc-swift untouched, every frame")
    func passesOnWhatItDoesNotServe() throws {
        let others: [HTTP2Frame.FramePayload] = [
            Self.headers(path: "/etcdserverpb.Lease/LeaseGrant"),
            Self.headers(extra: [("grpc-encoding", "gzip")]),
            .headers(.init(headers: [":method": "POST", ":path": "/etcdserverpb.KV/Put", "content-type": "application/grpc+json"])),
        ]
        for first in others {
            let stream = try Connection()
            try stream.send(first)
            try stream.send(Self.data(Self.framed(try Self.putRequest(key: "k"), compressed: 1)))
            #expect(stream.behind.frames.map(\.streamID) == [1, 1])
            #expect(try stream.written().isEmpty)
            #expect(stream.calls.withLockedValue { $0 } == 0)
            #expect(stream.open.withLockedValue { $0 } == 0)
        }
    }

    @Test("Not exactly one uncompressed message: refused as grpc-go refuses it, the call never runs")
    func refusesMalformedRequests() throws {
        let one = Self.framed(try Self.putRequest(key: "k"))
        var two = one
        two.writeImmutableBuffer(one)
        var truncated = one
        truncated.moveWriterIndex(to: one.writerIndex - 1)
        let cases: [(ByteBuffer?, String)] = [
            (nil, "grpc: unexpected EOF"),
            (two, "grpc: unexpected EOF"),
            (truncated, "grpc: unexpected EOF"),
            (Self.framed(try Self.putRequest(key: "k"), compressed: 1), "grpc: compressed flag set with identity or empty encoding"),
        ]
        for (body, text) in cases {
            let stream = try Connection()
            if let body {
                try stream.send(Self.headers())
                try stream.send(Self.data(body))
            } else {
                try stream.send(Self.headers(endStream: true))
            }
            let (code, message, reset) = Self.status(try stream.written())
            #expect(!reset, "the request had ended")
            #expect(code == "13")
            #expect(message == text)
            #expect(stream.calls.withLockedValue { $0 } == 0)
        }
    }

    @Test("A request over the size limit is refused as soon as it is, without waiting for its end")
    func refusesOversizedRequests() throws {
        let stream = try Connection(maxRequestSize: 16)
        try stream.send(Self.headers())
        try stream.send(Self.data(Self.framed([UInt8](repeating: 7, count: 40)), endStream: false))
        let (code, message, reset) = Self.status(try stream.written())
        #expect(code == "8")
        #expect(message == "grpc: received message larger than max (40 vs. 16)")
        #expect(reset, "the rest of the request is not wanted")
        // What follows is ignored: the answer has been given.
        try stream.send(Self.data(ByteBuffer(), endStream: true))
        #expect(try stream.written().isEmpty)
        #expect(stream.calls.withLockedValue { $0 } == 0)
    }

    @Test("A refused call (a learner, no leader for hasleader) is answered before its body arrives")
    func refusesBeforeRunning() throws {
        let stream = try Connection(refusal: RPCError(code: .unavailable, message: "etcdserver: no leader"))
        try stream.send(Self.headers(extra: [("hasleader", "true")]))
        let (code, message, reset) = Self.status(try stream.written())
        #expect(!reset, "a refusal leaves the stream to the client to end")
        #expect(code == "14")
        #expect(message == "etcdserver: no leader")
        try stream.send(Self.data(Self.framed(try Self.putRequest(key: "k"))))
        #expect(try stream.written().isEmpty)
        #expect(stream.calls.withLockedValue { $0 } == 0)
    }

    @Test("The caller's token names who the call runs as; an unknown token is refused before the call runs")
    func passesTheCaller() throws {
        let stream = try Connection()
        try stream.send(Self.headers(extra: [("token", "alice")]))
        try stream.send(Self.data(Self.framed(try Self.putRequest(key: "k"))))
        #expect(try stream.written().count == 3)  // headers, the answer, status OK
        #expect(stream.callers.withLockedValue { $0 } == [AuthInfo(user: "alice", revision: 1)])

        let refused = try Connection()
        try refused.send(Self.headers(extra: [("token", "bad")]))
        let (code, message, _) = Self.status(try refused.written())
        #expect(code == "16")
        #expect(message == "etcdserver: invalid auth token")
        #expect(refused.calls.withLockedValue { $0 } == 0)
    }

    @Test("Calls on streams side by side are each answered on their own stream; another method's stream goes behind whole")
    func interleavedStreams() throws {
        let connection = try Connection()
        try connection.send(Self.headers(), on: 1)
        try connection.send(Self.headers(path: "/etcdserverpb.Lease/LeaseGrant"), on: 3)
        try connection.send(Self.headers(), on: 5)
        try connection.send(Self.data(Self.framed(try Self.putRequest(key: "fifth"))), on: 5)
        try connection.send(Self.data(Self.framed([1, 2, 3])), on: 3)
        try connection.send(Self.data(Self.framed(try Self.putRequest(key: "1"))), on: 1)
        let frames = try connection.writtenFrames()
        #expect(frames.map(\.streamID) == [5, 5, 5, 1, 1, 1])
        let revisions = frames.compactMap { frame -> Int64? in
            guard case .data(let body) = frame.payload, case .byteBuffer(var bytes) = body.data, bytes.readableBytes > 5 else { return nil }
            bytes.moveReaderIndex(forwardBy: 5)
            return try? Etcdserverpb_PutResponse(serializedBytes: Array(bytes.readableBytesView)).header.revision
        }
        #expect(revisions == [5, 1])
        #expect(connection.behind.frames.map(\.streamID) == [3, 3])
        #expect(connection.open.withLockedValue { $0 } == 2)
        connection.close(1)
        connection.close(5)
        #expect(connection.open.withLockedValue { $0 } == 0, "each call ends when HTTP/2 closes its stream")
    }

    @Test("A stream reset while its call runs gets no answer: the call's result goes nowhere")
    func resetWhileRunning() throws {
        let connection = try Connection(holds: true)
        try connection.send(Self.headers())
        try connection.send(Self.data(Self.framed(try Self.putRequest(key: "k"))))
        #expect(connection.calls.withLockedValue { $0 } == 1)
        connection.close()
        #expect(connection.open.withLockedValue { $0 } == 0)
        for promise in connection.held.withLockedValue({ $0 }) { promise.succeed(Etcdserverpb_PutResponse()) }
        connection.channel.embeddedEventLoop.run()
        #expect(try connection.writtenFrames().isEmpty)
    }

    @Test("A request larger than half the stream's window opens the window again, so it is never stuck")
    func reopensTheWindow() throws {
        let connection = try Connection(maxRequestSize: 1024, windowSize: 64)
        try connection.send(Self.headers())
        var request = Self.framed(try Self.putRequest(key: String(repeating: "k", count: 60)))
        try connection.send(Self.data(request.readSlice(length: 20)!, endStream: false))
        #expect(try connection.written().isEmpty, "20 bytes: under half the window")
        try connection.send(Self.data(request.readSlice(length: 20)!, endStream: false))
        let update = try connection.written()
        guard update.count == 1, case .windowUpdate(let increment) = update[0] else {
            Issue.record("expected one WINDOW_UPDATE, got \(update)")
            return
        }
        #expect(increment == 40)
        try connection.send(Self.data(request))
        #expect(try connection.written().count == 3, "headers, the answer, status OK")
    }

    @Test("A call runs as the name TLS verified; a name the client wrote is dropped")
    func verifiedNameOnly() throws {
        let forged = Self.headers(extra: [(CallIdentity.commonNameHeader, "root")], endStream: false)
        let plaintext = try Connection()
        try plaintext.send(forged)
        let verified = try Connection(verifiedName: "etcd client")
        try verified.send(forged)
        #expect(plaintext.names.withLockedValue { $0 } == [nil])
        #expect(verified.names.withLockedValue { $0 } == ["etcd client"])
    }

    @Test("grpc-message is percent-encoded outside printable ASCII and for '%' only")
    func percentEncoding() {
        #expect(GRPCFraming.percentEncoded("etcdserver: key not found") == "etcdserver: key not found")
        #expect(GRPCFraming.percentEncoded("100% done\n") == "100%25 done%0A")
        #expect(GRPCFraming.percentEncoded("é") == "%C3%A9")
    }
}

/// The header that carries a verified client certificate's name is the TLS session's to set.
@Suite(.timeLimit(.minutes(3))) struct VerifiedNameHeaderTests {
    static func headers(_ extra: [(String, String)]) -> HTTP2Frame.FramePayload {
        .headers(.init(headers: HPACKHeaders([(":method", "POST"), (":path", "/etcdserverpb.KV/Put")] + extra)))
    }

    static func passed(_ handler: VerifiedNameHeader, _ frame: HTTP2Frame.FramePayload) throws -> HPACKHeaders? {
        let channel = EmbeddedChannel(handler: handler)
        try channel.writeInbound(frame)
        guard case .headers(let out) = try channel.readInbound(as: HTTP2Frame.FramePayload.self) else { return nil }
        return out.headers
    }

    @Test func aClientCannotNameItselfAndTheVerifiedNameIsAdded() throws {
        let forged = Self.headers([(CallIdentity.commonNameHeader, "root")])
        let plaintext = try Self.passed(VerifiedNameHeader(commonName: nil), forged)
        #expect(plaintext?[CallIdentity.commonNameHeader] == [])
        let verified = try Self.passed(VerifiedNameHeader(commonName: "etcd client"), forged)
        #expect(verified?[CallIdentity.commonNameHeader] == ["etcd client"])
        #expect(verified?.first(name: ":path") == "/etcdserverpb.KV/Put")
    }
}

/// A client connection closed by a server shutting down: only once its last call is answered,
/// and never before that answer is out.
@Suite(.timeLimit(.minutes(3))) struct ConnectionShutdownTests {
    @Test("The last answer goes out before the connection closes, though HTTP/2 reports the stream closed before flushing it")
    func lastAnswerIsFlushedFirst() throws {
        let channel = EmbeddedChannel(handler: FlushBatcher())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2379)).wait()
        let connection = Connection(channel: channel)
        connection.callOpened()
        connection.closeWhenIdle()
        channel.embeddedEventLoop.run()
        #expect(channel.isActive, "a call is still open")
        // As NIOHTTP2 does: the answer's last frames written, the stream reported closed, and
        // the flush only after that.
        channel.write(ByteBuffer(string: "the answer"), promise: nil)
        connection.callClosed()
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "the answer"))
        #expect(!channel.isActive, "closed once idle")
    }
}
