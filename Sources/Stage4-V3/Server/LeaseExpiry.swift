import EtcdAPI
import Logging

/// The leader's side of leases: twice a second, revoke through the log every lease whose time
/// ran out. Only the leader decides expiry (followers' clocks do not count), so a lease is
/// revoked once, at one revision, on every member alike.
public enum LeaseExpiry {
    /// Runs until cancelled.
    public static func run(backend: V3Backend, logger: Logger) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                let status = backend.raft.status
                guard status.leader != 0, status.leader == status.memberID else { continue }
                for id in backend.machine.dueLeases() {
                    var request = Etcdserverpb_LeaseRevokeRequest()
                    request.id = id
                    do {
                        _ = try await backend.write(.leaseRevoke(request), from: .server)
                        logger.debug("lease expired and was revoked", metadata: ["lease": "\(id)"])
                    } catch {
                        backend.machine.revocationFailed(id)
                    }
                }
            }
        }
    }
}
