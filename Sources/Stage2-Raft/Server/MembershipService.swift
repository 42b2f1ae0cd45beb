import BinaryCodec
import NIOCore
import RaftCore
import SingleNode

/// The cluster's membership as one member keeps it: who the members are (as applied from the
/// log), who was removed for good, who was heard from lately, and the callers waiting for a
/// change they asked for, the membership API's (`etcdctl member ...`) and the v1 join's.
///
/// The leader checks a change (`MembershipRules`, etcd's --strict-reconfig-check) and proposes
/// it; a follower points the caller to the leader. It reaches the core through `server`, as
/// etcd's appliers reach their EtcdServer, and like the server it is confined to the Raft loop
/// (`change` hops there itself), which makes its `@unchecked Sendable` safe.
final class MembershipService: @unchecked Sendable {
    unowned let server: RaftServer
    var members: [NodeID: Member] = [:] { didSet { server.isViewStale = true } }
    /// Members removed from the cluster: their messages are refused with `removedReason`.
    var removed: Set<NodeID> = []
    // When each peer was last heard from: who counts as connected for membership checks.
    var heardFrom: [NodeID: NIODeadline] = [:]
    private var hasHeardOfRemoval = false
    // Changes asked through the API, waiting for their entry to apply. A member can have two
    // across a change of leader (one asked here, one forwarded), so this is a list per member.
    private var changeWaiters: [NodeID: [EventLoopPromise<UInt64>]] = [:]
    // Machines joining through the v1 join, answered once their entry applies.
    private var joinWaiters: [NodeID: [any PeerConnection]] = [:]

    static let removedReason = "the member has been permanently removed from the cluster"

    init(server: RaftServer) {
        self.server = server
    }

    private var loop: any EventLoop { server.loop }
    private var configuration: RaftServerConfiguration { server.configuration }

    // MARK: Applying

    /// Applies a committed change to the table (the core has applied it to its configuration);
    /// the server then records it in the v1 store and calls `applied`.
    func apply(_ change: ConfChange) -> MemberTable.Applied {
        MemberTable.apply(change, to: &members, removed: &removed, selfID: server.id)
    }

    /// After a change is in the table and the v1 store: says so, stops this member if it was
    /// removed, and answers the callers of the membership API waiting for it.
    func applied(_ change: ConfChange, _ applied: MemberTable.Applied, at index: UInt64) {
        let logger = server.logger
        if change.kind == .remove {
            heardFrom[change.nodeID] = nil
            logger.info("member removed", metadata: ["member-id": "\(ClusterIdentity.hex(change.nodeID))", "name": "\(applied.removedName ?? "")", "index": "\(index)"])
            if change.nodeID == server.id { learnedOfRemoval(byRefusal: false) }
        } else if let member = applied.member {
            let what = change.kind == .update ? "member updated" : server.node.confState.learners.contains(change.nodeID) ? "learner added" : "member added"
            logger.info("\(what)", metadata: ["member-id": "\(ClusterIdentity.hex(change.nodeID))", "name": "\(member.name)", "peer-url": "\(member.peerURL)", "index": "\(index)"])
        }
        for promise in changeWaiters.removeValue(forKey: change.nodeID) ?? [] { promise.succeed(index) }
    }

    /// Answers the machines joining as `nodeID` through the v1 join, once it is applied (and a
    /// snapshot naming it taken, if it needs one).
    func answerJoiners(_ nodeID: NodeID) {
        for connection in joinWaiters.removeValue(forKey: nodeID) ?? [] {
            connection.reply(.joinResponse(.joined(id: nodeID, members: Array(members.values), clusterID: server.transport.clusterID)))
        }
    }

    /// This member was removed: it applied its own removal, or a peer refused it for that (it
    /// was down meanwhile). Said once; the daemon exits on `RaftServer.removals`.
    func learnedOfRemoval(byRefusal: Bool) {
        guard !hasHeardOfRemoval else { return }
        hasHeardOfRemoval = true
        server.logger.warning("the member has been permanently removed from the cluster")
        if byRefusal { server.logger.warning("the data-dir used by this member must be removed") }
        server.removalContinuation.yield(())
    }

    /// Fails every waiting change: the server stops.
    func failAll() {
        for (_, waiters) in changeWaiters { for promise in waiters { promise.fail(MembershipError.stopped) } }
        changeWaiters = [:]
    }

    /// Heard from recently, and still connected: a crashed peer's connection closes at once,
    /// as etcd's transport sees it, without waiting out the health interval. Itself included.
    func connected() -> Set<NodeID> {
        let since = loop.now - configuration.healthInterval
        let recent = heardFrom.filter { $0.value >= since }.keys.filter { peer in
            members[peer].map { server.transport.isConnected(to: $0.peerURL) } ?? false
        }
        return Set(recent).union([server.id])
    }

    // MARK: The membership API

    /// Changes the membership, from any member, and returns once the change is applied here.
    func change(_ request: MembershipRequest) async throws(MembershipError) -> MembershipResult {
        // One change at a time, and none before a new leader's first entry applies: a change
        // asked meanwhile waits for its turn (up to the request timeout) rather than failing,
        // whether this member leads or forwards it.
        let deadline = loop.now + configuration.requestTimeout
        var answer: MembershipAnswer
        repeat {
            answer = try await askForChange(request)
            guard answer == .failed(.changeInProgress), loop.now < deadline else { break }
            do { try await server.pause(.milliseconds(20)) } catch { throw .stopped }
        } while true
        switch answer {
        case .failed(let error): throw error
        case .redirect: throw .noLeader
        case .done(let id, let index):
            do {
                try await server.waitApplied(index)
                return try await loop.submit {
                    let members = self.members.values.sorted { $0.id < $1.id }
                    let member = self.members[id] ?? Member(name: "", peerURL: "", clientURL: "", id: id)
                    return MembershipResult(member: member, members: members, learners: Set(self.server.node.confState.learners))
                }.get()
            } catch {
                throw .timedOut
            }
        }
    }

    /// The leader's answer to `request`: from this member if it leads, else from the leader it
    /// knows (following up to three redirects if leadership moves).
    private func askForChange(_ request: MembershipRequest) async throws(MembershipError) -> MembershipAnswer {
        var answer: MembershipAnswer
        do {
            answer = try await loop.flatSubmit { self.startChange(request) }.get()
        } catch {
            throw .stopped
        }
        for _ in 0..<3 {
            guard case .redirect(let leaderURL) = answer else { break }
            do {
                guard case .membershipResponse(let reply) = try await server.questions.ask(leaderURL, .membershipRequest(request)) else {
                    throw MembershipError.noLeader
                }
                answer = reply
            } catch {
                throw .noLeader
            }
        }
        return answer
    }

    /// Answers a membership change another member forwarded.
    func handleRequest(_ request: MembershipRequest, on connection: any PeerConnection) {
        startChange(request).whenComplete { result in
            let answer: MembershipAnswer
            switch result {
            case .success(let reply): answer = reply
            case .failure(let error): answer = .failed(error as? MembershipError ?? .stopped)
            }
            connection.reply(.membershipResponse(answer))
        }
    }

    /// On the leader: checks the change, proposes it, and completes once it is applied.
    /// Elsewhere: where the leader is.
    private func startChange(_ request: MembershipRequest) -> EventLoopFuture<MembershipAnswer> {
        loop.preconditionInEventLoop()
        guard server.node.role == .leader else {
            if let leader = members[server.node.leader] { return loop.makeSucceededFuture(.redirect(leaderPeerURL: leader.peerURL)) }
            return loop.makeSucceededFuture(.failed(.noLeader))
        }
        let change: ConfChange
        switch check(request) {
        case .failure(let error): return loop.makeSucceededFuture(.failed(error))
        case .success(let checked): change = checked
        }
        do {
            try server.node.proposeConfChange(change)
        } catch {
            return loop.makeSucceededFuture(.failed(.changeInProgress))
        }
        let promise = loop.makePromise(of: UInt64.self)
        changeWaiters[change.nodeID, default: []].append(promise)
        let timeout = loop.scheduleTask(in: configuration.requestTimeout) { [weak self] in
            self?.changeWaiters[change.nodeID]?.removeAll { $0.futureResult === promise.futureResult }
            promise.fail(MembershipError.timedOut)
        }
        promise.futureResult.whenComplete { _ in timeout.cancel() }
        server.logger.info("proposing a membership change", metadata: ["change": "\(request)"])
        server.scheduleReady()
        return promise.futureResult.map { index in .done(id: change.nodeID, index: index) }
            .recover { error in .failed(error as? MembershipError ?? .timedOut) }
    }

    /// The leader's view, for `MembershipRules`.
    private func check(_ request: MembershipRequest) -> Result<ConfChange, MembershipError> {
        let rules = MembershipRules(
            leader: server.id, members: members, confState: server.node.confState, connected: connected(),
            match: server.node.progress.mapValues(\.match), leaderLastIndex: server.node.lastIndex,
            isStrict: configuration.strictReconfigCheck, maxClusterSize: configuration.maxClusterSize)
        return rules.check(request) { peerURL in
            Member.fnv1a(Array("\(peerURL)\n\(NIODeadline.now().uptimeNanoseconds)\n\(UInt64.random(in: 0...UInt64.max))".utf8))
        }
    }

    // MARK: The v1 join

    /// Joins the cluster through `peers` (`JoinClient` does the asking) and records what the
    /// answer says: the cluster's ID, this member's ID (before any entry reaches its log, so a
    /// restart keeps it), and the members it learns.
    func join(through peers: [String]) async throws {
        let logger = server.logger
        let client = JoinClient(
            member: configuration.member, ask: { [weak server] url, frame in
                guard let server else { throw ProposalError.stopped }
                return try await server.questions.ask(url, frame)
            }, pause: { [weak server] amount in
                guard let server else { throw ProposalError.stopped }
                try await server.pause(amount)
            },
            onRetry: { lastError in logger.info("not joined yet; retrying", metadata: ["last-error": "\(lastError)"]) })
        let joined = try await client.join(through: peers)
        if joined.clusterID != 0 {
            try ClusterIdentity.store(joined.clusterID, in: configuration.dataDirectory)
            server.setClusterID(joined.clusterID)
        }
        try ClusterIdentity.storeMemberID(joined.id, in: configuration.dataDirectory)
        try await loop.submit {
            if joined.id != self.server.id { self.adopt(memberID: joined.id) }
            for member in joined.members where self.members[member.id] == nil { self.members[member.id] = member }
            self.server.publishView()
        }.get()
        logger.info("joined the cluster", metadata: ["through": "\(joined.through)", "member-id": "\(ClusterIdentity.hex(joined.id))"])
    }

    /// Becomes the member the cluster added by peer URL: the same empty log, another ID.
    /// Messages for the new ID were ignored until now (the node drops what is not addressed to
    /// it), so nothing was persisted under the old one.
    private func adopt(memberID: NodeID) {
        server.loop.preconditionInEventLoop()
        server.logger.info("taking the member ID the cluster assigned", metadata: ["member-id": "\(ClusterIdentity.hex(memberID))"])
        let (configuration, storage) = (server.configuration, server.storage)
        server.node = RaftNode(config: configuration.raftConfig(id: memberID, applied: storage.snapshotMetadata.index), storage: storage)
        server.published.setMemberID(memberID)
        server.isViewStale = true
    }

    /// The leader's side of the join protocol over the peer port: a new machine asks any
    /// member; a follower points it to the leader; the leader adds it through a membership
    /// change and answers once it is applied.
    func handleJoin(_ joiner: Member, on connection: any PeerConnection) {
        func answer(_ reply: PeerFrame.JoinAnswer) { connection.reply(.joinResponse(reply)) }
        let clusterID = server.transport.clusterID
        guard server.node.role == .leader else {
            if let leader = members[server.node.leader] { answer(.redirect(leaderPeerURL: leader.peerURL)) } else { answer(.refused("no leader yet; retry")) }
            return
        }
        // A member added by peer URL (`etcdctl member add`) starting for the first time: it
        // learns the ID it was given, and announces its name and client URL once it runs.
        if let added = members.values.first(where: { $0.peerURL == joiner.peerURL && ($0.name.isEmpty || $0.name == joiner.name) }) {
            return answer(.joined(id: added.id, members: Array(members.values), clusterID: clusterID))
        }
        // A removed member's ID is never reused (etcd: "ID removed"): its old messages would be
        // taken for the new one's, and the others refuse it anyway.
        if removed.contains(joiner.id) {
            return answer(.refused("the member ID \(ClusterIdentity.hex(joiner.id)) (name \(joiner.name)) was removed from the cluster; start the machine under another name"))
        }
        // Names are identities: a machine joining again under its name is already in.
        if members[joiner.id] != nil { return answer(.joined(id: joiner.id, members: Array(members.values), clusterID: clusterID)) }
        guard members.count < configuration.maxClusterSize else {
            return answer(.refused(ErrorCode.noMorePeer.message))
        }
        do {
            try server.node.proposeConfChange(ConfChange(.addVoter, nodeID: joiner.id, context: joiner.encoded))
        } catch {
            return answer(.refused("a membership change is in progress; retry"))
        }
        joinWaiters[joiner.id, default: []].append(connection)
        server.logger.info("adding a member", metadata: ["name": "\(joiner.name)", "peer-url": "\(joiner.peerURL)"])
        server.scheduleReady()
    }
}
