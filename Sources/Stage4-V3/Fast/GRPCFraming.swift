import Foundation
import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2

/// gRPC over HTTP/2 as a server writes it, shared by `UnaryFastPath` and `GRPCStreamBridge`:
/// response headers, length-prefixed messages in DATA frames, and the status in trailers (or,
/// when nothing came before it, in one trailers-only HEADERS frame).
enum GRPCFraming {
    static func headers(_ metadata: Metadata = [:]) -> HTTP2Frame.FramePayload {
        if metadata.isEmpty { return plainHeaders }
        var headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
        add(metadata, to: &headers)
        return .headers(.init(headers: headers))
    }

    /// One message: a byte saying it is not compressed, its length, its bytes.
    static func message(_ bytes: [UInt8], allocator: ByteBufferAllocator) -> HTTP2Frame.FramePayload {
        var framed = allocator.buffer(capacity: 5 + bytes.count)
        framed.writeInteger(UInt8(0))
        framed.writeInteger(UInt32(bytes.count))
        framed.writeBytes(bytes)
        return .data(.init(data: .byteBuffer(framed)))
    }

    // Every unary answer's headers and OK status: made once, not per call.
    private static let plainHeaders = HTTP2Frame.FramePayload.headers(.init(headers: [":status": "200", "content-type": "application/grpc"]))
    private static let ok = HTTP2Frame.FramePayload.headers(.init(headers: ["grpc-status": "0"], endStream: true))

    /// The status, ending the stream; `trailersOnly` when no headers were sent before it.
    static func status(code: Int, message: String, metadata: Metadata = [:], trailersOnly: Bool) -> HTTP2Frame.FramePayload {
        if code == 0 && message.isEmpty && metadata.isEmpty && !trailersOnly { return ok }
        var trailers: HPACKHeaders = trailersOnly ? [":status": "200", "content-type": "application/grpc"] : [:]
        trailers.add(name: "grpc-status", value: "\(code)")
        if !message.isEmpty { trailers.add(name: "grpc-message", value: percentEncoded(message)) }
        add(metadata, to: &trailers)
        return .headers(.init(headers: trailers, endStream: true))
    }

    private static func add(_ metadata: Metadata, to headers: inout HPACKHeaders) {
        for (key, value) in metadata {
            switch value {
            case .string(let text): headers.add(name: key, value: text)
            case .binary(let bytes): headers.add(name: key, value: Data(bytes).base64EncodedString())
            }
        }
    }

    /// grpc-message is percent-encoded UTF-8: bytes outside printable ASCII, and '%', as %XX
    /// (gRPC over HTTP/2, "Responses"). etcd's messages are plain ASCII and pass unchanged.
    static func percentEncoded(_ message: String) -> String {
        let bytes = Array(message.utf8)
        guard bytes.contains(where: { $0 < 0x20 || $0 > 0x7E || $0 == UInt8(ascii: "%") }) else { return message }
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        var encoded = String.UnicodeScalarView()
        for byte in bytes {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                encoded.append(Unicode.Scalar(byte))
            } else {
                encoded.append(contentsOf: ["%", hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            }
        }
        return String(encoded)
    }
}
