import Foundation
import GRPCCore
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

@testable import V3

/// The bridge between one HTTP/2 stream and grpc-swift's server, frame by frame: what a call
/// receives, and the frames its answers become.
@Suite("The gRPC stream bridge, frame by frame", .timeLimit(.minutes(3)))
struct GRPCStreamBridgeTests {
    /// A stream with the bridge; `calls` collects what it hands to the server.
    struct Stream {
        let channel = EmbeddedChannel()
        let calls = NIOLockedValueBox<[GRPCStreamBridge.Call]>([])

        init(accepting: Bool = true, maxMessageSize: Int = 1024) throws {
            let calls = self.calls
            let bridge = GRPCStreamBridge(maxMessageSize: maxMessageSize) { call in
                guard accepting else { return false }
                calls.withLockedValue { $0.append(call) }
                return true
            }
            try channel.pipeline.syncOperations.addHandler(bridge)
        }

        func send(_ payload: HTTP2Frame.FramePayload) throws { try channel.writeInbound(payload) }

        func written() throws -> [HTTP2Frame.FramePayload] {
            var frames: [HTTP2Frame.FramePayload] = []
            while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) { frames.append(frame) }
            return frames
        }

        var call: GRPCStreamBridge.Call? { calls.withLockedValue { $0.first } }
    }

    static func headers(path: String = "/etcdserverpb.Watch/Watch", extra: [(String, String)] = []) -> HTTP2Frame.FramePayload {
        var headers: HPACKHeaders = [":method": "POST", ":path": path, "content-type": "application/grpc", "te": "trailers"]
        for (name, value) in extra { headers.add(name: name, value: value) }
        return .headers(.init(headers: headers))
    }

    static func framed(_ messages: [[UInt8]]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for message in messages {
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(UInt32(message.count))
            buffer.writeBytes(message)
        }
        return buffer
    }

    static func parts(_ call: GRPCStreamBridge.Call) async throws -> [RPCRequestPart<[UInt8]>] {
        var parts: [RPCRequestPart<[UInt8]>] = []
        for try await part in call.inbound { parts.append(part) }
        return parts
    }

    @Test("Headers become the call's method and metadata; messages are cut out across DATA frames")
    func inbound() async throws {
        let stream = try Stream()
        try stream.send(Self.headers(extra: [("hasleader", "true"), ("trace-bin", "AQID"), ("grpc-timeout", "5S")]))
        let call = try #require(stream.call)
        #expect(call.descriptor == MethodDescriptor(fullyQualifiedService: "etcdserverpb.Watch", method: "Watch"))
        // Three messages in two frames, the second split across the boundary.
        var bytes = Self.framed([[1, 2], [3, 4, 5], []])
        let head = bytes.readSlice(length: 9)!
        try stream.send(.data(.init(data: .byteBuffer(head))))
        try stream.send(.data(.init(data: .byteBuffer(bytes), endStream: true)))
        let parts = try await Self.parts(call)
        guard parts.count == 4, case .metadata(let metadata) = parts[0] else { Issue.record("unexpected parts: \(parts)"); return }
        #expect(Array(metadata[stringValues: "hasleader"]) == ["true"])
        #expect(Array(metadata[binaryValues: "trace-bin"]) == [[1, 2, 3]])
        #expect(Array(metadata[stringValues: "content-type"]).isEmpty && Array(metadata[stringValues: "te"]).isEmpty)
        // Kept: grpc-swift's server takes the call's deadline from it.
        #expect(Array(metadata[stringValues: "grpc-timeout"]) == ["5S"])
        let messages = parts.dropFirst().compactMap { part -> [UInt8]? in
            if case .message(let message) = part { return message }
            return nil
        }
        #expect(messages == [[1, 2], [3, 4, 5], []])
    }

    @Test("A response is headers, then messages; the status ends the stream in trailers")
    func outbound() async throws {
        let stream = try Stream()
        try stream.send(Self.headers())
        let call = try #require(stream.call)
        try await call.outbound.write(.message([9, 9]))
        try await call.outbound.write(.status(Status(code: .ok, message: ""), ["x-extra": "1"]))
        let frames = try stream.written()
        guard frames.count == 3, case .headers(let head) = frames[0], case .data(let data) = frames[1], case .headers(let trailers) = frames[2],
              case .byteBuffer(let body) = data.data
        else { Issue.record("unexpected frames: \(frames)"); return }
        #expect(head.headers.first(name: ":status") == "200" && !head.endStream)
        #expect(Array(body.readableBytesView) == [0, 0, 0, 0, 2, 9, 9])
        #expect(trailers.endStream)
        #expect(trailers.headers.first(name: "grpc-status") == "0")
        #expect(trailers.headers.first(name: "x-extra") == "1")
        #expect(trailers.headers.first(name: ":status") == nil)
    }

    @Test("A status with nothing before it is one trailers-only frame, its message percent-encoded")
    func trailersOnly() async throws {
        let stream = try Stream()
        try stream.send(Self.headers())
        let call = try #require(stream.call)
        await call.outbound.finish(throwing: RPCError(code: .unavailable, message: "etcdserver: no leader"))
        let frames = try stream.written()
        guard frames.count == 1, case .headers(let only) = frames[0] else { Issue.record("unexpected frames: \(frames)"); return }
        #expect(only.endStream)
        #expect(only.headers.first(name: ":status") == "200")
        #expect(only.headers.first(name: "grpc-status") == "14")
        #expect(only.headers.first(name: "grpc-message") == "etcdserver: no leader")
    }

    @Test("A stream reset before the status cancels the call; one closed after it does not")
    func cancellation() throws {
        let reset = try Stream()
        try reset.send(Self.headers())
        let handle = ServerContext.RPCCancellationHandle()
        try #require(reset.call).cancellation.attach(handle)
        try reset.channel.close().wait()
        #expect(handle.isCancelled)

        let finished = try Stream()
        try finished.send(Self.headers())
        let call = try #require(finished.call)
        let other = ServerContext.RPCCancellationHandle()
        call.cancellation.attach(other)
        call.outbound.refuse(Status(code: .ok, message: ""))
        try finished.channel.close().wait()
        #expect(!other.isCancelled)
    }

    @Test("Compressed calls, bad paths and calls during shutdown are refused without running")
    func refusals() throws {
        let cases: [(Stream, HTTP2Frame.FramePayload, String)] = [
            (try Stream(), Self.headers(extra: [("grpc-encoding", "gzip")]), "12"),
            (try Stream(), Self.headers(path: "no-slash"), "12"),
            (try Stream(accepting: false), Self.headers(), "14"),
        ]
        for (stream, first, code) in cases {
            try stream.send(first)
            let frames = try stream.written()
            guard frames.count == 1, case .headers(let only) = frames[0] else { Issue.record("unexpected frames: \(frames)"); continue }
            #expect(only.endStream)
            #expect(only.headers.first(name: "grpc-status") == code)
            #expect(stream.call == nil)
        }
    }

    @Test("A message over the limit ends the call's input with resource-exhausted")
    func oversized() async throws {
        let stream = try Stream(maxMessageSize: 4)
        try stream.send(Self.headers())
        let call = try #require(stream.call)
        try stream.send(.data(.init(data: .byteBuffer(Self.framed([[1, 2, 3, 4, 5]])))))
        let error = await #expect(throws: RPCError.self) { _ = try await Self.parts(call) }
        #expect(error?.code == .resourceExhausted)
    }

    @Test("A stream that ends inside a message fails the call's input; what comes after an end is dropped")
    func endsInsideAMessage() async throws {
        let stream = try Stream()
        try stream.send(Self.headers())
        let call = try #require(stream.call)
        var partial = Self.framed([[1, 2, 3]])
        partial.moveWriterIndex(to: partial.writerIndex - 1)
        try stream.send(.data(.init(data: .byteBuffer(partial), endStream: true)))
        try stream.send(.data(.init(data: .byteBuffer(Self.framed([[4]])))))
        let error = await #expect(throws: RPCError.self) { _ = try await Self.parts(call) }
        #expect(error?.code == .internalError)
        #expect(error?.message == "grpc: unexpected EOF")
    }

    @Test("Peers are named as grpc-swift names them")
    func peerNames() throws {
        #expect(GRPCStreamBridge.describe(try SocketAddress(ipAddress: "127.0.0.1", port: 2379)) == "ipv4:127.0.0.1:2379")
        #expect(GRPCStreamBridge.describe(try SocketAddress(ipAddress: "::1", port: 2379)) == "ipv6:[::1]:2379")
        #expect(GRPCStreamBridge.describe(nil) == "unknown")
    }
}
