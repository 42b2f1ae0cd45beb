import NIOCore
import RaftCore
import SingleNode

/// Who leads, as this member sees it: etcd's milestone lines when that changes, what a change of
/// leader does to the work waiting here, handing leadership over (thesis §3.10), and a founder
/// announcing its client URL once there is a leader to take it.
///
/// `@unchecked Sendable` for the same reason as `RaftServer`: confined to the Raft loop (the
/// transfers hop there themselves).
final class Leadership: @unchecked Sendable {
    unowned let server: RaftServer
    // The last leader seen, to count changes of leader (not elections without one).
    private var lastLeader: NodeID = 0
    private var publishTicks = 0
    private var hasAnnouncedPublish = false
    /// Settles once: this member published itself to the cluster (true), or stopped first.
    let publication = Settlement()

    init(server: RaftServer) {
        self.server = server
    }

    /// The core's role or leader changed (its soft state).
    func changed(leader: NodeID, role: Role) {
        let (id, logger) = (server.id, server.logger)
        // etcd's milestone lines, in its words: operators' scripts wait for them.
        if leader != 0 && leader != lastLeader {
            RaftMetrics.leaderChanges.increment()
            logger.info("raft.node: \(String(id, radix: 16)) elected leader \(String(leader, radix: 16)) at term \(server.node.term)")
            if lastLeader == 0 { logger.info("enabled capabilities for version 3.4") }
        } else if leader == 0 && lastLeader != 0 && role != .leader {
            logger.info("raft.node: \(String(id, radix: 16)) lost leader \(String(lastLeader, radix: 16)) at term \(server.node.term)")
        }
        if leader != 0 { lastLeader = leader }
        logger.info("raft role changed", metadata: ["role": "\(role)", "leader": "\(server.members[leader]?.name ?? "none")", "term": "\(server.node.term)"])
        server.configuration.stateMachine?.leadershipChanged(isLeader: role == .leader)
        server.reads.failUnconfirmed()
        if role != .leader { server.proposer.leadershipLost() }
    }

    /// A founder listed in `--initial-cluster` is known by its peer URL only: once there is a
    /// leader, it announces its client URL through the log (retrying every election timeout).
    /// Called every tick.
    func publishIfNeeded() {
        let me = server.configuration.member
        guard server.node.leader != 0, let recorded = server.members[server.id] else { return }
        if recorded.clientURL == me.clientURL && recorded.name == me.name {
            // In etcd's words, once: scripts wait for this line.
            if !hasAnnouncedPublish {
                hasAnnouncedPublish = true
                server.logger.info("published {Name:\(me.name) ClientURLs:[\(me.clientURL)]} to cluster \(String(server.transport.clusterID, radix: 16))")
                publication.settle(true)
            }
            return
        }
        publishTicks += 1
        guard publishTicks % server.configuration.electionTicks == 1 else { return }
        _ = server.proposer.proposeUnwaited(Command(.publish(name: me.name, raftURL: me.peerURL, etcdURL: me.clientURL), time: server.clock.now()))
    }

    /// Hands leadership to voter `target` (the leader brings it up to date, then tells it to
    /// campaign at once) and returns once it leads.
    func transfer(to target: NodeID) async throws(LeadershipTransferError) {
        let loop = server.loop
        let started: Result<Void, LeadershipTransferError> = (try? await loop.submit { () -> Result<Void, LeadershipTransferError> in
            guard self.server.node.role == .leader else { return .failure(.notLeader) }
            guard target != self.server.id, self.server.node.confState.voters.contains(target) else { return .failure(.badTransferee) }
            self.server.logger.info("transferring leadership", metadata: ["to": "\(ClusterIdentity.hex(target))"])
            self.server.node.transferLeadership(to: target)
            self.server.scheduleReady()
            return .success(())
        }.get()) ?? .failure(.timedOut)
        try started.get()
        let deadline = loop.now + server.configuration.requestTimeout
        while loop.now < deadline {
            if server.status.leader == target { return }
            do { try await server.pause(.milliseconds(20)) } catch { throw .timedOut }
        }
        throw .timedOut
    }

    /// Before a graceful stop: if this member leads, hands leadership to the most up-to-date
    /// voter, so the cluster does not wait an election timeout to find out it is gone (etcd
    /// does the same on SIGTERM). Gives up quietly after the request timeout.
    func transferBeforeStopping() async {
        let target: NodeID? = try? await server.loop.submit { () -> NodeID? in
            guard self.server.node.role == .leader else { return nil }
            let others = self.server.node.confState.voters.filter { $0 != self.server.id }
            if others.isEmpty { self.server.logger.info("skipped leadership transfer for single voting member cluster") }
            return others.max { (self.server.node.progress[$0]?.match ?? 0) < (self.server.node.progress[$1]?.match ?? 0) }
        }.get()
        guard let target else { return }
        do {
            try await transfer(to: target)
            server.logger.info("leadership transferred before stopping", metadata: ["to": "\(ClusterIdentity.hex(target))"])
        } catch {
            server.logger.warning("could not transfer leadership before stopping", metadata: ["error": "\(error)"])
        }
    }
}

/// Why a leadership transfer did not happen.
public enum LeadershipTransferError: Error, Equatable {
    /// This member does not lead (etcd's "not leader").
    case notLeader
    /// The target is not a voter here, or is this member (etcd's "bad leader transferee").
    case badTransferee
    /// The target did not take over within the request timeout.
    case timedOut
}
