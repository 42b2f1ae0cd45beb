import BinaryCodec
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftCore
import RaftDisk
import SingleNode

/// What operators ask of a running member besides data: handing leadership over, and backups
/// that a new cluster can be founded from.
extension RaftServer {
    /// Why a leadership transfer did not happen.
    public enum TransferError: Error, Equatable {
        /// This member does not lead (etcd's "not leader").
        case notLeader
        /// The target is not a voter here, or is this member (etcd's "bad leader transferee").
        case badTransferee
        /// The target did not take over within the request timeout.
        case timedOut
    }

    /// Hands leadership to voter `target` (thesis §3.10: the leader brings it up to date, then
    /// tells it to campaign at once) and returns once it leads.
    public func transferLeadership(to target: NodeID) async throws(TransferError) {
        let started: Result<Void, TransferError> = (try? await loop.submit { () -> Result<Void, TransferError> in
            guard self.node.role == .leader else { return .failure(.notLeader) }
            guard target != self.id, self.node.confState.voters.contains(target) else { return .failure(.badTransferee) }
            self.logger.info("transferring leadership", metadata: ["to": "\(ClusterIdentity.hex(target))"])
            self.node.transferLeadership(to: target)
            self.scheduleReady()
            return .success(())
        }.get()) ?? .failure(.timedOut)
        try started.get()
        let deadline = loop.now + configuration.requestTimeout
        while loop.now < deadline {
            if status.leader == target { return }
            do { try await pause(.milliseconds(20)) } catch { throw .timedOut }
        }
        throw .timedOut
    }
}

extension RaftServer {
    /// Before a graceful stop: if this member leads, hands leadership to the most up-to-date
    /// voter, so the cluster does not wait an election timeout to find out it is gone (etcd
    /// does the same on SIGTERM). Gives up quietly after the request timeout.
    public func transferLeadershipBeforeStopping() async {
        let target: NodeID? = try? await loop.submit { () -> NodeID? in
            guard self.node.role == .leader else { return nil }
            let others = self.node.confState.voters.filter { $0 != self.id }
            if others.isEmpty { self.logger.info("skipped leadership transfer for single voting member cluster") }
            return others.max { (self.node.progress[$0]?.match ?? 0) < (self.node.progress[$1]?.match ?? 0) }
        }.get()
        guard let target else { return }
        do {
            try await transferLeadership(to: target)
            logger.info("leadership transferred before stopping", metadata: ["to": "\(ClusterIdentity.hex(target))"])
        } catch {
            logger.warning("could not transfer leadership before stopping", metadata: ["error": "\(error)"])
        }
    }
}
