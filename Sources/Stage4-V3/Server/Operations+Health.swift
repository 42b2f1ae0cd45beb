import NIOCore
import SingleNode

/// The health endpoints that load balancers, monitors and Kubernetes' probes poll:
///
/// - `/health` as etcd 3.4 answers it: `{"health":"true"}` (200) when no alarm is raised (but
///   those named by `?exclude=NOSPACE`), a leader is known, and a linearizable read succeeds
///   within a second; else `{"health":"false"}` (503). `?serializable=true` (etcd 3.4.29 and
///   3.5) skips the leader and reads locally: whether this member serves at all.
/// - `/livez` and `/readyz` as etcd 3.4.29 and 3.5 answer them: `ok` (200) or every check's
///   line, `[-]` for those that failed (503); `?verbose` lists every check, `?exclude=NAME` skips one, and
///   `/livez/NAME` runs one alone. Live: the process serves a local read. Ready: also no
///   CORRUPT alarm and a linearizable read (this member is part of a working cluster).
extension OperationsEndpoints {
    /// The checks, in the order etcd runs and reports them.
    enum Check: String, CaseIterable {
        case dataCorruption = "data_corruption"
        case serializableRead = "serializable_read"
        case linearizableRead = "linearizable_read"

        static let live: [Check] = [.serializableRead]
        static let ready: [Check] = [.dataCorruption, .serializableRead, .linearizableRead]

        /// The checks a probe path runs: `/livez`, `/readyz`, or one of theirs alone
        /// (`/readyz/linearizable_read`); nil for any other path.
        static func named(_ path: String) -> (probe: String, checks: [Check])? {
            for (probe, checks) in [("/livez", live), ("/readyz", ready)] {
                if path == probe { return (probe, checks) }
                if path.hasPrefix(probe + "/"), let check = checks.first(where: { probe + "/" + $0.rawValue == path }) {
                    return (probe, [check])
                }
            }
            return nil
        }
    }

    func health(_ request: ExtraHTTPRequest, on eventLoop: any EventLoop) -> EventLoopFuture<ExtraHTTPReply> {
        let excluded = Set(request.queryValues("exclude"))
        let serializable = request.queryValues("serializable").last == "true"
        let raised = backend.machine.read { $0.alarms }.sorted().map(Self.alarmName).filter { !excluded.contains($0) }
        if let alarm = raised.first { return eventLoop.makeSucceededFuture(healthReply(false, "ALARM \(alarm)")) }
        // A serializable check asks only whether this member serves local reads: no leader needed.
        if serializable { return eventLoop.makeSucceededFuture(healthReply(true, "")) }
        if backend.raft.status.leader == 0 { return eventLoop.makeSucceededFuture(healthReply(false, "RAFT NO LEADER")) }
        return linearizableRead(on: eventLoop).map { error in
            self.healthReply(error == nil, error.map { "QGET failed \($0)" } ?? "")
        }
    }

    private func healthReply(_ healthy: Bool, _ reason: String) -> ExtraHTTPReply {
        // etcd logs why; the body says only true or false (Go's http.Error adds a newline).
        if !healthy { logger.warning("/health error", metadata: ["reason": "\(reason)"]) }
        return ExtraHTTPReply(
            status: healthy ? 200 : 503, contentType: Self.textPlain,
            body: Array((healthy ? #"{"health":"true"}"# : #"{"health":"false"}"# + "\n").utf8))
    }

    /// Answers a probe path (see `Check.named`), or nil for any other path.
    func probe(_ request: ExtraHTTPRequest, on eventLoop: any EventLoop) -> EventLoopFuture<ExtraHTTPReply>? {
        guard let (path, checks) = Check.named(request.path) else { return nil }
        // A check's own path runs it whatever `exclude` says.
        let excluded = request.path == path ? Set(request.queryValues("exclude")) : []
        let verbose = !request.queryValues("verbose").isEmpty
        var results: [EventLoopFuture<(Check, String?)>] = []
        for check in checks where !excluded.contains(check.rawValue) {
            results.append(run(check, on: eventLoop).map { (check, $0) })
        }
        return EventLoopFuture.whenAllSucceed(results, on: eventLoop).map { outcomes in
            var report = ""
            var failed: [Check] = []
            for check in checks {
                if excluded.contains(check.rawValue) {
                    report += "[+]\(check.rawValue) excluded: ok\n"
                } else if let error = outcomes.first(where: { $0.0 == check })?.1 {
                    report += "[-]\(check.rawValue) failed: \(error)\n"
                    failed.append(check)
                } else {
                    report += "[+]\(check.rawValue) ok\n"
                }
            }
            guard failed.isEmpty else {
                logger.warning("\(path) failed", metadata: ["checks": "\(failed.map(\.rawValue))"])
                // Go's http.Error: the report and a newline, no "ok".
                return ExtraHTTPReply(status: 503, contentType: Self.textPlain, body: Array((report + "\n").utf8))
            }
            return ExtraHTTPReply(status: 200, contentType: Self.textPlain, body: Array(((verbose ? report : "") + "ok\n").utf8))
        }
    }

    /// One check: nil when it passes, else why not.
    private func run(_ check: Check, on eventLoop: any EventLoop) -> EventLoopFuture<String?> {
        switch check {
        case .dataCorruption:
            let corrupt = backend.machine.read { $0.alarms }.contains { Self.alarmName($0) == "CORRUPT" }
            return eventLoop.makeSucceededFuture(corrupt ? "alarm activated: CORRUPT" : nil)
        case .serializableRead:
            // A local read of the store, as a serializable Range of "health" would do.
            _ = backend.machine.read { $0.revision }
            return eventLoop.makeSucceededFuture(nil)
        case .linearizableRead:
            return linearizableRead(on: eventLoop)
        }
    }

    /// A linearizable read's confirmation (ReadIndex) within a second: nil, or why it failed.
    private func linearizableRead(on eventLoop: any EventLoop) -> EventLoopFuture<String?> {
        let promise = eventLoop.makePromise(of: String?.self)
        let timeout = eventLoop.scheduleTask(in: .seconds(1)) { promise.succeed("context deadline exceeded") }
        backend.startConfirmingLinearizable().hop(to: eventLoop).whenComplete { result in
            timeout.cancel()
            switch result {
            case .success: promise.succeed(nil)
            case .failure(let error): promise.succeed("\(error)")
            }
        }
        return promise.futureResult
    }

    static func alarmName(_ alarm: MVCCStore.Alarm) -> String {
        alarm.kind == MVCCStore.Alarm.noSpace ? "NOSPACE" : "CORRUPT"
    }
}
