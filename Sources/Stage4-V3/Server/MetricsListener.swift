import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SingleNode

/// `--listen-metrics-urls`: a plain HTTP listener answering only the operations endpoints
/// (/metrics, /health, /version), so monitoring can scrape without reaching the client port.
public final class MetricsListener: Sendable {
    let channel: any Channel
    /// The port bound.
    public let port: Int

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    public static func start(host: String, port: Int, routes: @escaping ExtraHTTPRoutes, logger: Logger) async throws -> MetricsListener {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(Responder(routes: routes))
                }
            }
            .bind(host: host, port: port).get()
        let bound = channel.localAddress?.port ?? port
        logger.info("serving metrics", metadata: ["address": "\(host):\(bound)", "paths": "/metrics /health /version"])
        return MetricsListener(channel: channel, port: bound)
    }

    public func stop() async {
        try? await channel.close()
    }

    final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let routes: ExtraHTTPRoutes
        private var head: HTTPRequestHead?

        init(routes: @escaping ExtraHTTPRoutes) { self.routes = routes }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let request): head = request
            case .body: break
            case .end:
                guard let request = head else { return }
                head = nil
                let parts = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
                let extra = ExtraHTTPRequest(method: request.method.rawValue, path: String(parts[0]), query: parts.count > 1 ? parts[1] : nil)
                let notFound = ExtraHTTPReply(status: 404, contentType: "text/plain; charset=utf-8", body: Array("404 page not found\n".utf8))
                let reply = routes(extra, context.eventLoop) ?? context.eventLoop.makeSucceededFuture(notFound)
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                reply.hop(to: context.eventLoop).whenSuccess { answer in
                    let (handler, context) = bound.value
                    handler.write(answer, for: request, context: context)
                }
            }
        }

        private func write(_ answer: ExtraHTTPReply, for request: HTTPRequestHead, context: ChannelHandlerContext) {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: answer.contentType)
            headers.add(name: "Content-Length", value: "\(answer.body.count)")
            let status = HTTPResponseStatus(statusCode: answer.status)
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: answer.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            if !request.isKeepAlive { context.close(promise: nil) }
        }
    }
}
