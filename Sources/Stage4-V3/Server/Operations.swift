import Foundation
import Logging
import Metrics
import NIOCore
import Prometheus
import Raft
import SingleNode

/// The HTTP endpoints operators and their tools poll, on the client port beside the v1 API
/// (and on `--listen-metrics-urls`): `/version` and `/health` in etcd 3.4's JSON, and
/// `/metrics` in Prometheus' text format.
public struct OperationsEndpoints: Sendable {
    let backend: V3Backend
    /// Where swift-metrics sends what every stage records; emitted at `/metrics`.
    let registry: PrometheusCollectorRegistry?
    let logger: Logger

    // Gauges that mirror the member's state, set when scraped.
    private let hasLeader = Gauge(label: "etcd_server_has_leader")
    private let isLeader = Gauge(label: "etcd_server_is_leader")
    private let committed = Gauge(label: "etcd_server_proposals_committed_total")
    private let applied = Gauge(label: "etcd_server_proposals_applied_total")
    private let pending = Gauge(label: "etcd_server_proposals_pending")
    private let dbTotalSize = Gauge(label: "etcd_mvcc_db_total_size_in_bytes")
    private let dbInUse = Gauge(label: "etcd_mvcc_db_total_size_in_use_in_bytes")
    private let learner = Gauge(label: "etcd_server_is_learner")

    public init(backend: V3Backend, registry: PrometheusCollectorRegistry?, logger: Logger) {
        self.backend = backend
        self.registry = registry
        self.logger = logger
    }

    /// The etcd release this server speaks for (`etcd --version`, /version, etcdctl's status).
    public static let serverVersion = MaintenanceService.version

    /// etcd 3.4's /version: the server's version and the cluster's (major.minor.0).
    public static let versionJSON = #"{"etcdserver":"\#(MaintenanceService.version)","etcdcluster":"3.4.0"}"#

    /// Answers the paths it knows, for the client port's HTTP side.
    public var routes: ExtraHTTPRoutes {
        { request, eventLoop in self.answer(request, on: eventLoop) }
    }

    static let textPlain = "text/plain; charset=utf-8"

    func answer(_ request: ExtraHTTPRequest, on eventLoop: any EventLoop) -> EventLoopFuture<ExtraHTTPReply>? {
        guard request.method == "GET" else {
            // etcd answers its own endpoints' other methods with 405; the rest are the v1 API's.
            guard request.path == "/health" || Check.named(request.path) != nil else { return nil }
            return eventLoop.makeSucceededFuture(ExtraHTTPReply(status: 405, contentType: Self.textPlain, body: Array("Method Not Allowed\n".utf8)))
        }
        switch request.path {
        case "/version":
            return eventLoop.makeSucceededFuture(ExtraHTTPReply(contentType: "application/json", body: Array(Self.versionJSON.utf8)))
        case "/health":
            return health(request, on: eventLoop)
        case "/metrics":
            guard let registry else { return nil }
            updateGauges()
            return eventLoop.makeSucceededFuture(
                ExtraHTTPReply(contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer()))
        default:
            return probe(request, on: eventLoop)
        }
    }

    private func updateGauges() {
        let status = backend.raft.status
        hasLeader.record(status.leader != 0 ? 1 : 0)
        isLeader.record(status.leader == status.memberID ? 1 : 0)
        learner.record(status.learners.contains(status.memberID) ? 1 : 0)
        committed.record(Int64(status.commitIndex))
        applied.record(Int64(status.appliedIndex))
        pending.record(status.pendingProposals)
        let sizes = backend.machine.sizes
        dbTotalSize.record(sizes.total)
        dbInUse.record(sizes.inUse)
    }
}
