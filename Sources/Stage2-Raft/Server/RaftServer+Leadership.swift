import RaftCore
import SingleNode
import Synchronization

/// Who leads, as this member sees it: etcd's milestone lines when that changes, what a change of
/// leader does to the work waiting here, and a founder announcing its client URL once there is
/// a leader to take it.
extension RaftServer {
    /// A founder listed in `--initial-cluster` is known by its peer URL only: once there is a
    /// leader, it announces its client URL through the log (retrying every election timeout).
    func publishClientURLIfNeeded() {
        let me = configuration.member
        guard node.leader != 0, let recorded = members[id] else { return }
        if recorded.clientURL == me.clientURL && recorded.name == me.name {
            // In etcd's words, once: scripts wait for this line.
            if !hasAnnouncedPublish {
                hasAnnouncedPublish = true
                logger.info("published {Name:\(me.name) ClientURLs:[\(me.clientURL)]} to cluster \(String(transport.clusterID, radix: 16))")
                publication.settle(true)
            }
            return
        }
        publishTicks += 1
        guard publishTicks % configuration.electionTicks == 1 else { return }
        _ = proposeUnwaited(Command(.publish(name: me.name, raftURL: me.peerURL, etcdURL: me.clientURL), time: clock.now()))
    }

    func roleChanged(leader: NodeID, role: Role) {
        if leader != 0 && leader != lastLeader { RaftMetrics.leaderChanges.increment() }
        // etcd's milestone lines, in its words: operators' scripts wait for them.
        if leader != 0 && leader != lastLeader {
            logger.info("raft.node: \(String(id, radix: 16)) elected leader \(String(leader, radix: 16)) at term \(node.term)")
            if lastLeader == 0 { logger.info("enabled capabilities for version 3.4") }
        } else if leader == 0 && lastLeader != 0 && role != .leader {
            logger.info("raft.node: \(String(id, radix: 16)) lost leader \(String(lastLeader, radix: 16)) at term \(node.term)")
        }
        if leader != 0 { lastLeader = leader }
        logger.info("raft role changed", metadata: ["role": "\(role)", "leader": "\(members[leader]?.name ?? "none")", "term": "\(node.term)"])
        configuration.stateMachine?.leadershipChanged(isLeader: role == .leader)
        reads.failUnconfirmed()
        guard role != .leader else { return }
        expiring = []
        // Entries proposed here may still commit under the next leader, but this node cannot
        // promise it: tell the clients to check and retry, as etcd does on a leader change.
        failProposals(.leaderChanged)
    }
}

extension RaftServer {
    /// Waits until this member has published itself to the cluster: its name and client URL
    /// are in the log, and it knows a leader. A member of a cluster whose others are not up yet
    /// waits for them, as etcd's does. False if the server stopped first.
    public func publishedItself() async -> Bool {
        await publication.value()
    }
}

/// A value set once, that any number of tasks wait for.
final class Settlement: Sendable {
    private let state = Mutex<(value: Bool?, waiters: [CheckedContinuation<Bool, Never>])>((nil, []))

    /// Sets the value, unless it is set already, and wakes everyone waiting.
    func settle(_ value: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func value() async -> Bool {
        await withCheckedContinuation { waiter in
            let settled = state.withLock { state -> Bool? in
                if let value = state.value { return value }
                state.waiters.append(waiter)
                return nil
            }
            if let settled { waiter.resume(returning: settled) }
        }
    }
}
