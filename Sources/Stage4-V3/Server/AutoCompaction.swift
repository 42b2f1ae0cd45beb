import EtcdAPI
import GRPCCore
import Logging
import SingleNode

/// `--auto-compaction-mode` and `--auto-compaction-retention`: the leader compacts old revisions
/// by itself, on etcd 3.4's schedule, through the log as `etcdctl compaction` would.
///
/// The schedule is a pure value (`Schedule`), fed the time and the store's revision; the
/// driver (`run`) only sleeps, asks it, and proposes what it says.
public enum AutoCompaction {
    /// What to keep.
    public enum Policy: Sendable, Equatable {
        /// Keep about this long of history: the revision current `retention` ago is compacted.
        case periodic(retention: Duration)
        /// Keep this many revisions behind the current one.
        case revision(retention: Int64)

        /// Parses the two flags as etcd 3.4 does; a retention of 0 (the default) is nil: off.
        /// In periodic mode a bare number counts hours ("72"), else it is a Go duration ("30m").
        public init?(mode: String, retention: String) throws(V1Flags.InvalidValue) {
            switch mode {
            case "periodic":
                let duration: Duration?
                if let hours = Int64(retention) {
                    let (seconds, overflow) = hours.multipliedReportingOverflow(by: 3600)
                    duration = hours >= 0 && !overflow && seconds < 9_000_000_000 ? .seconds(seconds) : nil
                } else {
                    duration = GoFlagSet.duration(retention)
                }
                guard let duration else {
                    throw V1Flags.InvalidValue(description: "--auto-compaction-retention \(retention): expected a duration (e.g. 1h or 30m) or a number of hours")
                }
                if duration == .zero { return nil }
                self = .periodic(retention: duration)
            case "revision":
                guard let count = Int64(retention), count >= 0 else {
                    throw V1Flags.InvalidValue(description: "--auto-compaction-retention \(retention): expected a number of revisions in revision mode, e.g. 1000")
                }
                if count == 0 { return nil }
                self = .revision(retention: count)
            default:
                throw V1Flags.InvalidValue(description: "--auto-compaction-mode \(mode): expected periodic or revision")
            }
        }
    }

    /// When to compact what: etcd 3.4's v3compactor rules, without a clock of its own.
    ///
    /// Periodic: the revision is sampled every tenth of the retention (capped at an hour), and
    /// the oldest sample kept (one retention ago) is compacted once a retention has passed
    /// since start, then every retention (capped at an hour) after each success.
    /// Revision: every five minutes, the current revision less the retention, unless it is
    /// the one compacted last.
    public struct Schedule: Sendable {
        public let policy: Policy
        /// How often `step` wants to be called.
        public let interval: Duration
        // Periodic: samples[0] is the revision about one retention ago.
        private var samples: [Int64] = []
        private var lastSuccess: Duration
        private var wait: Duration
        private var lastCompacted: Int64 = 0

        /// Starts the schedule at time `now` (any monotonic origin).
        public init(_ policy: Policy, now: Duration) {
            self.policy = policy
            lastSuccess = now
            switch policy {
            case .periodic(let retention):
                interval = min(retention, .seconds(3600)) / 10
                wait = retention
            case .revision:
                interval = .seconds(300)
                wait = .zero
            }
        }

        /// Called every `interval` with the time and the store's revision: the revision to
        /// compact now, if any. `isLeader` false pauses compaction (sampling goes on).
        public mutating func step(now: Duration, revision: Int64, isLeader: Bool) -> Int64? {
            switch policy {
            case .periodic(let retention):
                samples.append(revision)
                let kept = Int(retention / interval) + 1
                if samples.count > kept { samples.removeFirst(samples.count - kept) }
                guard isLeader, now - lastSuccess >= wait, let target = samples.first, target > lastCompacted else { return nil }
                return target
            case .revision(let retention):
                let target = revision - retention
                guard isLeader, target > 0, target != lastCompacted else { return nil }
                return target
            }
        }

        /// Records a compaction that succeeded (or found the revision already compacted).
        public mutating func compacted(_ revision: Int64, now: Duration) {
            lastCompacted = revision
            lastSuccess = now
            if case .periodic(let retention) = policy { wait = min(retention, .seconds(3600)) }
        }
    }

    /// Runs the schedule on the leader until cancelled; `clock` is injected for tests.
    public static func run<C: Clock>(
        _ policy: Policy, backend: V3Backend, clock: C, logger: Logger
    ) -> Task<Void, Never> where C.Duration == Duration {
        Task {
            let origin = clock.now
            var schedule = Schedule(policy, now: .zero)
            while !Task.isCancelled {
                do { try await clock.sleep(for: schedule.interval) } catch { return }
                let now = origin.duration(to: clock.now)
                let status = backend.raft.status
                let revision = backend.machine.read { $0.revision }
                guard let target = schedule.step(now: now, revision: revision, isLeader: status.leader != 0 && status.leader == status.memberID)
                else { continue }
                logger.info("Starting auto-compaction at revision \(target) (retention: \(policy.retentionText))")
                var request = Etcdserverpb_CompactionRequest()
                request.revision = target
                do {
                    _ = try await backend.write(.compact(request), from: .server)
                    logger.info("Finished auto-compaction at revision \(target)")
                    schedule.compacted(target, now: origin.duration(to: clock.now))
                } catch let error as RPCError where error.message == V3Error.compacted.message {
                    schedule.compacted(target, now: origin.duration(to: clock.now))
                } catch {
                    logger.warning("Failed auto-compaction at revision \(target): \(error); retrying")
                }
            }
        }
    }
}

extension AutoCompaction.Policy {
    var retentionText: String {
        switch self {
        case .periodic(let retention): "\(retention.components.seconds)s"
        case .revision(let count): "\(count) revisions"
        }
    }
}
