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

/// The KV fast path on one HTTP/2 stream, frame by frame: what gRPC clients send in, what
/// they must get out, and what it leaves to grpc-swift.
@Suite("The unary fast path, frame by frame", .timeLimit(.minutes(3)))
struct UnaryFastPathTests {
    /// Frames that went past the fast path, to the handlers behind it (grpc-swift's).
    final class Behind: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTP2Frame.FramePayload
        var frames: [HTTP2Frame.FramePayload] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { frames.append(unwrapInboundIn(data)) }
    }

    /// A stream with the fast path in front of a recorder. Put answers with the key's length as
    /// the revision, or fails with `failure`; `refusal` refuses every call if set.
    struct Stream {
        let channel = EmbeddedChannel()
        let behind = Behind()
        let calls = NIOLockedValueBox(0)
        let callers = NIOLockedValueBox<[AuthInfo?]>([])

        init(failure: RPCError? = nil, refusal: RPCError? = nil, maxRequestSize: Int = 1024) throws {
            let calls = self.calls
            let callers = self.callers
            let put = UnaryRoute("etcdserverpb.KV", "Put") { (request: Etcdserverpb_PutRequest, loop, caller) -> EventLoopFuture<Etcdserverpb_PutResponse> in
                calls.withLockedValue { $0 += 1 }
                callers.withLockedValue { $0.append(caller) }
                if let failure { return loop.makeFailedFuture(failure) }
                var response = Etcdserverpb_PutResponse()
                response.header.revision = Int64(request.key.count)
                return loop.makeSucceededFuture(response)
            }
            // A token "bad" is unknown; any other names its user.
            let routes = UnaryRoutes([put], refusal: { _, _ in refusal }, identify: { headers throws(RPCError) in
                guard let token = headers.first(name: "token") else { return nil }
                if token == "bad" { throw V3Backend.rpcError(V3Error.invalidAuthToken) }
                return AuthInfo(user: token, revision: 1)
            })
            try channel.pipeline.syncOperations.addHandler(behind)
            try channel.pipeline.syncOperations.addHandler(UnaryFastPath(routes: routes, metrics: nil, maxRequestSize: maxRequestSize), position: .first)
        }

        func send(_ payload: HTTP2Frame.FramePayload) throws { try channel.writeInbound(payload) }

        func written() throws -> [HTTP2Frame.FramePayload] {
            var frames: [HTTP2Frame.FramePayload] = []
            while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) { frames.append(frame) }
            return frames
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

    /// The status of a trailers-only answer (one HEADERS frame ending the stream).
    static func status(_ frames: [HTTP2Frame.FramePayload]) -> (code: String?, message: String?) {
        guard frames.count == 1, case .headers(let only) = frames[0], only.endStream else { return (nil, nil) }
        return (only.headers.first(name: "grpc-status"), only.headers.first(name: "grpc-message"))
    }

    @Test("A call is answered with headers, one length-prefixed message and an OK status")
    func answersACall() throws {
        let stream = try Stream()
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
        let stream = try Stream(failure: RPCError(code: .outOfRange, message: "etcdserver: mvcc: required revision has been compacted"))
        try stream.send(Self.headers())
        try stream.send(Self.data(Self.framed(try Self.putRequest(key: "k"))))
        let (code, message) = Self.status(try stream.written())
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
            let stream = try Stream()
            try stream.send(first)
            try stream.send(Self.data(Self.framed(try Self.putRequest(key: "k"), compressed: 1)))
            #expect(stream.behind.frames.count == 2)
            #expect(try stream.written().isEmpty)
            #expect(stream.calls.withLockedValue { $0 } == 0)
            #expect(throws: (any Error).self) { try stream.channel.pipeline.syncOperations.handler(type: UnaryFastPath.self) }
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
            let stream = try Stream()
            if let body {
                try stream.send(Self.headers())
                try stream.send(Self.data(body))
            } else {
                try stream.send(Self.headers(endStream: true))
            }
            let (code, message) = Self.status(try stream.written())
            #expect(code == "13")
            #expect(message == text)
            #expect(stream.calls.withLockedValue { $0 } == 0)
        }
    }

    @Test("A request over the size limit is refused as soon as it is, without waiting for its end")
    func refusesOversizedRequests() throws {
        let stream = try Stream(maxRequestSize: 16)
        try stream.send(Self.headers())
        try stream.send(Self.data(Self.framed([UInt8](repeating: 7, count: 40)), endStream: false))
        let (code, message) = Self.status(try stream.written())
        #expect(code == "8")
        #expect(message == "grpc: received message larger than max (40 vs. 16)")
        // What follows is ignored: the answer has been given.
        try stream.send(Self.data(ByteBuffer(), endStream: true))
        #expect(try stream.written().isEmpty)
        #expect(stream.calls.withLockedValue { $0 } == 0)
    }

    @Test("A refused call (a learner, no leader for hasleader) is answered before its body arrives")
    func refusesBeforeRunning() throws {
        let stream = try Stream(refusal: RPCError(code: .unavailable, message: "etcdserver: no leader"))
        try stream.send(Self.headers(extra: [("hasleader", "true")]))
        let (code, message) = Self.status(try stream.written())
        #expect(code == "14")
        #expect(message == "etcdserver: no leader")
        try stream.send(Self.data(Self.framed(try Self.putRequest(key: "k"))))
        #expect(try stream.written().isEmpty)
        #expect(stream.calls.withLockedValue { $0 } == 0)
    }

    @Test("The caller's token names who the call runs as; an unknown token is refused before the call runs")
    func passesTheCaller() throws {
        let stream = try Stream()
        try stream.send(Self.headers(extra: [("token", "alice")]))
        try stream.send(Self.data(Self.framed(try Self.putRequest(key: "k"))))
        #expect(try stream.written().count == 3)  // headers, the answer, status OK
        #expect(stream.callers.withLockedValue { $0 } == [AuthInfo(user: "alice", revision: 1)])

        let refused = try Stream()
        try refused.send(Self.headers(extra: [("token", "bad")]))
        let (code, message) = Self.status(try refused.written())
        #expect(code == "16")
        #expect(message == "etcdserver: invalid auth token")
        #expect(refused.calls.withLockedValue { $0 } == 0)
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
