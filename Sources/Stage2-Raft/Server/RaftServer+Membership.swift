import BinaryCodec
import NIOCore
import RaftCore
import SingleNode

extension RaftServer {
    /// The members this one heard from within the health interval, itself included: who
    /// counts as connected when a membership change is checked.
    public func connectedMembers() async -> Set<NodeID> {
        (try? await loop.submit { self.connected() }.get()) ?? []
    }

    /// Heard from recently, and still connected: a crashed peer's connection closes at once,
    /// as etcd's transport sees it, without waiting out the interval.
    func connected() -> Set<NodeID> {
        let since = loop.now - configuration.healthInterval
        let recent = heardFrom.filter { $0.value >= since }.keys.filter { peer in
            members[peer].map { transport.isConnected(to: $0.peerURL) } ?? false
        }
        return Set(recent).union([id])
    }

    /// Changes the membership, from any member: the leader checks and proposes the change,
    /// and this returns once it is applied here.
    public func changeMembership(_ request: MembershipRequest) async throws(MembershipError) -> MembershipResult {
        // One change at a time, and none before a new leader's first entry applies: a change
        // asked meanwhile waits for its turn (up to the request timeout) rather than failing,
        // whether this member leads or forwards it.
        let deadline = loop.now + configuration.requestTimeout
        var answer: MembershipAnswer
        repeat {
            answer = try await askForChange(request)
            guard answer == .failed(.changeInProgress), loop.now < deadline else { break }
            do { try await pause(.milliseconds(20)) } catch { throw .stopped }
        } while true
        switch answer {
        case .failed(let error): throw error
        case .redirect: throw .noLeader
        case .done(let id, let index):
            do {
                try await waitApplied(index)
                return try await loop.submit {
                    let members = self.members.values.sorted { $0.id < $1.id }
                    let member = self.members[id] ?? members.first { $0.id == id } ?? Member(name: "", peerURL: "", clientURL: "", id: id)
                    return MembershipResult(member: member, members: members, learners: Set(self.node.confState.learners))
                }.get()
            } catch {
                throw .timedOut
            }
        }
    }

    /// The leader's answer to `request`: from this member if it leads, else from the leader it
    /// knows (following one more redirect if leadership moved).
    private func askForChange(_ request: MembershipRequest) async throws(MembershipError) -> MembershipAnswer {
        var answer: MembershipAnswer
        do {
            answer = try await loop.flatSubmit { self.startMembershipChange(request) }.get()
        } catch {
            throw .stopped
        }
        for _ in 0..<3 {
            guard case .redirect(let leaderURL) = answer else { break }
            do {
                guard case .membershipResponse(let reply) = try await ask(leaderURL, .membershipRequest(request)) else { throw MembershipError.noLeader }
                answer = reply
            } catch {
                throw .noLeader
            }
        }
        return answer
    }

    /// Answers a membership change another member forwarded.
    func handleMembershipRequest(_ request: MembershipRequest, on connection: any PeerConnection) {
        startMembershipChange(request).whenComplete { result in
            let answer: MembershipAnswer
            switch result {
            case .success(let reply): answer = reply
            case .failure(let error): answer = .failed(error as? MembershipError ?? .stopped)
            }
            connection.reply(.membershipResponse(answer))
        }
    }

    /// On the leader: checks the change as etcd's --strict-reconfig-check does, proposes it,
    /// and completes once it is applied. Elsewhere: where the leader is.
    func startMembershipChange(_ request: MembershipRequest) -> EventLoopFuture<MembershipAnswer> {
        loop.preconditionInEventLoop()
        guard node.role == .leader else {
            if let leader = members[node.leader] { return loop.makeSucceededFuture(.redirect(leaderPeerURL: leader.peerURL)) }
            return loop.makeSucceededFuture(.failed(.noLeader))
        }
        let change: ConfChange
        switch checkMembershipChange(request) {
        case .failure(let error): return loop.makeSucceededFuture(.failed(error))
        case .success(let checked): change = checked
        }
        do {
            try node.proposeConfChange(change)
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
        logger.info("proposing a membership change", metadata: ["change": "\(request)"])
        scheduleReady()
        return promise.futureResult.map { index in .done(id: change.nodeID, index: index) }
            .recover { error in .failed(error as? MembershipError ?? .timedOut) }
    }

    /// The leader's view, for `MembershipRules`.
    private func checkMembershipChange(_ request: MembershipRequest) -> Result<ConfChange, MembershipError> {
        let rules = MembershipRules(
            leader: id, members: members, confState: node.confState, connected: connected(),
            match: node.progress.mapValues(\.match), leaderLastIndex: node.lastIndex,
            isStrict: configuration.strictReconfigCheck, maxClusterSize: configuration.maxClusterSize)
        return rules.check(request) { peerURL in
            Member.fnv1a(Array("\(peerURL)\n\(NIODeadline.now().uptimeNanoseconds)\n\(UInt64.random(in: 0...UInt64.max))".utf8))
        }
    }

    /// Completes the waiters for a membership change applied at `index`.
    func membershipChangeApplied(_ nodeID: NodeID, at index: UInt64) {
        for promise in changeWaiters.removeValue(forKey: nodeID) ?? [] { promise.succeed(index) }
    }

    /// Waits until this member has applied `index`.
    func waitApplied(_ index: UInt64) async throws {
        try await loop.flatSubmit { () -> EventLoopFuture<Void> in
            let promise = self.loop.makePromise(of: Void.self)
            self.reads.wait(promise, for: index, applied: self.machine.appliedIndex)
            return promise.futureResult
        }.get()
    }
}
