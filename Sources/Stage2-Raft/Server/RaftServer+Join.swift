import NIOCore
import RaftCore
import SingleNode

/// The v1 join protocol over the peer port: a new machine asks any member; a follower points it
/// to the leader; the leader adds it through a membership change and answers once it is applied.
extension RaftServer {
    func handleJoin(_ joiner: Member, on connection: any PeerConnection) {
        func answer(_ reply: PeerFrame.JoinAnswer) { connection.reply(.joinResponse(reply)) }
        guard node.role == .leader else {
            if let leader = members[node.leader] { answer(.redirect(leaderPeerURL: leader.peerURL)) } else { answer(.refused("no leader yet; retry")) }
            return
        }
        // A member added by peer URL (`etcdctl member add`) starting for the first time: it
        // learns the ID it was given, and announces its name and client URL once it runs.
        if let added = members.values.first(where: { $0.peerURL == joiner.peerURL && ($0.name.isEmpty || $0.name == joiner.name) }) {
            return answer(.joined(id: added.id, members: Array(members.values), clusterID: transport.clusterID))
        }
        // A removed member's ID is never reused (etcd: "ID removed"): its old messages would be
        // taken for the new one's, and the others refuse it anyway.
        if removedMembers.contains(joiner.id) {
            return answer(.refused("the member ID \(ClusterIdentity.hex(joiner.id)) (name \(joiner.name)) was removed from the cluster; start the machine under another name"))
        }
        // Names are identities: a machine joining again under its name is already in.
        if members[joiner.id] != nil { return answer(.joined(id: joiner.id, members: Array(members.values), clusterID: transport.clusterID)) }
        guard members.count < configuration.maxClusterSize else {
            return answer(.refused(ErrorCode.noMorePeer.message))
        }
        do {
            try node.proposeConfChange(ConfChange(.addVoter, nodeID: joiner.id, context: joiner.encoded))
        } catch {
            return answer(.refused("a membership change is in progress; retry"))
        }
        joinWaiters[joiner.id, default: []].append(connection)
        logger.info("adding a member", metadata: ["name": "\(joiner.name)", "peer-url": "\(joiner.peerURL)"])
        scheduleReady()
    }

    /// Joins the cluster through `peers` (`JoinClient` does the asking) and records what the
    /// answer says: the cluster's ID, this member's ID (before any entry reaches its log, so a
    /// restart keeps it), and the members it learns.
    func joinCluster(through peers: [String]) async throws {
        let client = JoinClient(
            member: configuration.member, ask: { [weak self] url, frame in
                guard let self else { throw ProposalError.stopped }
                return try await self.ask(url, frame)
            }, pause: { [weak self] amount in
                guard let self else { throw ProposalError.stopped }
                try await self.pause(amount)
            },
            onRetry: { [logger] lastError in logger.info("not joined yet; retrying", metadata: ["last-error": "\(lastError)"]) })
        let joined = try await client.join(through: peers)
        if joined.clusterID != 0 {
            try ClusterIdentity.store(joined.clusterID, in: configuration.dataDirectory)
            setClusterID(joined.clusterID)
        }
        try ClusterIdentity.storeMemberID(joined.id, in: configuration.dataDirectory)
        try await loop.submit {
            if joined.id != self.id { self.adopt(memberID: joined.id) }
            for member in joined.members where self.members[member.id] == nil { self.members[member.id] = member }
            self.publishView()
        }.get()
        logger.info("joined the cluster", metadata: ["through": "\(joined.through)", "member-id": "\(ClusterIdentity.hex(joined.id))"])
    }

    /// Sends `frame` to the peer at `url` on a connection of its own and returns its answer.
    func ask(_ url: String, _ frame: PeerFrame, timeout: TimeAmount = .seconds(10)) async throws -> PeerFrame {
        // A short ask (the live view's) does not wait the usual 2 s to connect either.
        let connection = try await transport.dial(url, connectTimeout: min(timeout, .seconds(2)))
        defer { connection.close() }
        let limit = timeout.nanoseconds >= 1_000_000_000 ? "\(timeout.nanoseconds / 1_000_000_000) s" : "\(timeout.nanoseconds / 1_000_000) ms"
        let answer = try await loop.submit {
            self.peerAnswers.expect(connection.id, within: timeout) { JoinError(description: "no answer within \(limit)") }
        }.get()
        // A peer that hangs up (it refused us: say, TLS on one side only) fails the ask now.
        connection.closed.whenComplete { [weak self] _ in
            guard let server = self else { return }
            server.loop.execute {
                server.peerAnswers.fail(connection.id, JoinError(description: "the peer closed the connection"))
            }
        }
        try await connection.write(frame)
        return try await answer.get()
    }

    /// Becomes the member the cluster added by peer URL: the same empty log, another ID.
    /// Messages for the new ID were ignored until now (the node drops what is not addressed to
    /// it), so nothing was persisted under the old one.
    func adopt(memberID: NodeID) {
        loop.preconditionInEventLoop()
        logger.info("taking the member ID the cluster assigned", metadata: ["member-id": "\(ClusterIdentity.hex(memberID))"])
        node = Self.makeNode(id: memberID, configuration: configuration, storage: storage)
        statusBox.withLock { $0.memberID = memberID }
        isViewStale = true
    }
}

/// Joining failed; the message says why.
public struct JoinError: Error, Equatable, CustomStringConvertible {
    public var description: String
}
