import Logging
import NIOCore
import SingleNode

/// A Stage 1 server on a free port with a manual clock (its HTTP requests on `path`), stopped when the test body returns.
func withTestServer<T: Sendable>(
    historyCapacity: Int = 1024, limits: HTTPLimits = HTTPLimits(), path: V1HTTPPath = .fast,
    _ body: @Sendable (_ port: Int, _ server: SingleNodeServer, _ clock: ManualWallClock) async throws -> T
) async throws -> T {
    var configuration = SingleNodeConfiguration()
    configuration.clientPort = 0
    configuration.name = "node1"
    configuration.peerURL = "http://127.0.0.1:7001"
    configuration.historyCapacity = historyCapacity
    configuration.limits = limits
    configuration.httpPath = path
    // Expiry is driven by the test through `expireDueKeys()` after moving the clock.
    configuration.expiryCheckInterval = .hours(1)
    let clock = ManualWallClock(start: Timestamp(nanoseconds: 1_700_000_000_123_456_789))
    let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    let server = try await SingleNodeServer.start(configuration, clock: clock, logger: quiet)
    do {
        let result = try await body(server.clientPort, server, clock)
        try await server.stop()
        return result
    } catch {
        try? await server.stop()
        throw error
    }
}
