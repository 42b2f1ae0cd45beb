import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// Log lines a server wrote, for asserting on what an operator would read.
final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "test") { _ in CapturingHandler(sink: self) }
    }

    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }

    /// The first line containing every fragment, waiting up to `seconds` for it to be written
    /// (the server logs on its own event loop, after the client has seen the outcome).
    func line(containing fragments: String..., within seconds: Double = 5) async -> String? {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            if let line = all.first(where: { line in fragments.allSatisfy { line.contains($0) } }) { return line }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

struct CapturingHandler: LogHandler {
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        sink.append("\(event.level) \(event.message) \(fields)")
    }
}

/// A raw client: connects, optionally over TLS, writes bytes, and collects everything the
/// server sends until it closes or `timeout` passes.
enum RawClient {
    struct Outcome {
        var response: String
        var error: (any Error)?
        var negotiatedProtocol: String?
        var serverCertificate: NIOSSLCertificate?
    }

    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var bytes: [UInt8] = []
        var error: (any Error)?
        var alpn: String?
        var certificate: NIOSSLCertificate?
        let done: EventLoopPromise<Void>

        init(done: EventLoopPromise<Void>) { self.done = done }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            bytes += Array(buffer: unwrapInboundIn(data))
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted(let negotiated) = event {
                alpn = negotiated
                certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
            }
            // The server said close_notify: answer as curl does, by closing.
            if case TLSUserEvent.shutdownCompleted = event { context.close(promise: nil) }
            if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if self.error == nil { self.error = error }
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) { done.succeed(()) }
    }

    static func exchange(
        port: Int, tls: TLSConfiguration?, serverName: String? = nil, send request: String,
        timeout: TimeAmount = .seconds(5)
    ) async throws -> Outcome {
        let group = MultiThreadedEventLoopGroup.singleton
        let loop = group.next()
        let done = loop.makePromise(of: Void.self)
        let collector = Collector(done: done)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        let context = try NIOSSLContext(configuration: tls)
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        // The timer first: over TLS the write waits for the handshake, which may never finish.
        let timer = loop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        channel.writeAndFlush(ByteBuffer(string: request), promise: nil)
        try await done.futureResult.get()
        timer.cancel()
        return try await loop.submit {
            Outcome(
                response: String(decoding: collector.bytes, as: UTF8.self), error: collector.error,
                negotiatedProtocol: collector.alpn, serverCertificate: collector.certificate)
        }.get()
    }

    /// A client TLS configuration trusting `caFile`, presenting `cert`/`key` if given.
    static func tls(caFile: String, cert: String? = nil, key: String? = nil, alpn: [String] = []) throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(caFile)
        configuration.applicationProtocols = alpn
        if let cert, let key {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        return configuration
    }
}

extension String {
    static func get(_ path: String) -> String {
        "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    }
}
