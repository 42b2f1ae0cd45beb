#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import RaftCore
import SingleNode

/// Applying committed entries to the store, and proposing what clients and the TTL clock ask.
extension RaftServer {
    func apply(_ entry: Entry) {
        switch entry.kind {
        case .normal where entry.data.isEmpty:
            machine.skip(to: entry.index)  // a new leader's first entry
        case .normal:
            applyNormal(entry)
        case .confChange:
            guard let change = ConfChange(encoded: entry.data) else {
                machine.skip(to: entry.index)
                return
            }
            node.applyConfChange(change)
            let applied = MemberTable.apply(change, to: &members, removed: &removedMembers, selfID: id)
            if let record = applied.record {
                machine.apply(Command(record, time: Timestamp(seconds: 0)), at: entry.index)
            } else {
                machine.skip(to: entry.index)
            }
            if change.kind == .remove {
                heardFrom[change.nodeID] = nil
                logger.info("member removed", metadata: ["member-id": "\(ClusterIdentity.hex(change.nodeID))", "name": "\(applied.removedName ?? "")", "index": "\(entry.index)"])
                if change.nodeID == id && !hasHeardOfRemoval {
                    hasHeardOfRemoval = true
                    logger.warning("the member has been permanently removed from the cluster")
                    removalContinuation.yield(())
                }
            } else if let member = applied.member {
                logger.info(
                    change.kind == .update ? "member updated" : node.confState.learners.contains(change.nodeID) ? "learner added" : "member added",
                    metadata: ["member-id": "\(ClusterIdentity.hex(change.nodeID))", "name": "\(member.name)", "peer-url": "\(member.peerURL)", "index": "\(entry.index)"])
            }
            membershipChangeApplied(change.nodeID, at: entry.index)
            // A member added behind a compacted log catches up from a snapshot, and refuses one
            // that does not name it: take a fresh one now (see RaftNode.applyConfChange).
            if change.kind != .remove && change.kind != .update && storage.firstIndex() > 1 { takeSnapshot(at: entry.index) }
            for connection in joinWaiters.removeValue(forKey: change.nodeID) ?? [] {
                connection.reply(.joinResponse(.joined(id: change.nodeID, members: Array(members.values), clusterID: transport.clusterID)))
            }
        }
    }

    /// An entry for one of the machines: applied by its owner, the result handed to the
    /// caller waiting on this member if it proposed it.
    private func applyNormal(_ entry: Entry) {
        guard let envelope = Envelope(decoding: entry.data) else {
            logger.error("skipping an entry this build cannot decode", metadata: ["index": "\(entry.index)"])
            machine.skip(to: entry.index)
            return
        }
        let result: (any Sendable)?
        if envelope.tag == StoreMachine.tag {
            result = applyV1(envelope, at: entry.index)
        } else {
            // v1 indexes are Raft indexes: the v1 store moves past every entry it does not own.
            machine.skip(to: entry.index)
            guard let slot = machines[envelope.tag] else {
                // Skipping it would lose that machine's data for good once a snapshot covers it.
                logger.critical("\(Self.missingMachine)", metadata: ["index": "\(entry.index)", "tag": "\(envelope.tag)"])
                exit(1)
            }
            result = slot.apply(envelope.payload, entry.index)
            if result == nil { logger.error("skipping an entry this build cannot decode", metadata: ["index": "\(entry.index)"]) }
        }
        if envelope.origin == id, let finish = waiters.take(envelope.requestID) {
            finish(result.map { .success($0) } ?? .failure(.unreadable))
        }
    }

    /// A v1 command, with what the server itself learns from it: a member's published URLs,
    /// and that a key it asked to expire has.
    private func applyV1(_ envelope: Envelope, at index: UInt64) -> (any Sendable)? {
        guard var command = StoreMachine.decode(envelope.payload) else {
            logger.error("skipping an entry this build cannot decode", metadata: ["index": "\(index)"])
            machine.skip(to: index)
            return nil
        }
        // A member's announcement that commits after its removal must not bring it back.
        if case .publish(let name, _, _) = command.kind, members[envelope.origin != 0 ? envelope.origin : Member.id(forName: name)] == nil {
            machine.skip(to: index)
            return nil
        }
        if case .publish(let name, _, let clientURL) = command.kind {
            // Published by the member itself: its ID is the proposer's (a member added by
            // peer URL has an ID other than its name's). As in etcd, a member publishes its name
            // and client URL only: its peer URL is the one the membership records (changed by
            // `member update` alone), whatever its flags say now.
            let memberID = envelope.origin != 0 ? envelope.origin : Member.id(forName: name)
            let peerURL = members[memberID]!.peerURL
            command = Command(.publish(name: name, raftURL: peerURL, etcdURL: clientURL), time: command.time)
            members[memberID] = Member(name: name, peerURL: peerURL, clientURL: clientURL, id: memberID)
        }
        let result = machine.apply(command, at: index)
        if case .expire(let key, _) = command.kind { expiring.remove(key) }
        return result
    }

    /// A client's v1 write: proposed here if this member leads, else redirected to the leader
    /// (v1 clients follow a 307; they are never forwarded inside Raft).
    func propose(_ kind: Command.Kind, issuedAt time: Timestamp, promise: EventLoopPromise<WriteOutcome>) {
        guard node.role == .leader else {
            if let leader = members[node.leader], !leader.clientURL.isEmpty {
                promise.succeed(.redirect(leaderClientURL: leader.clientURL))
            } else {
                promise.succeed(.completed(.failure(StoreError(.raftInternal))))
            }
            return
        }
        enqueue(tag: StoreMachine.tag, payload: StoreMachine.encode(Command(kind, time: time))) { outcome in
            switch outcome {
            case .success(let result as Result<V1Response, StoreError>): promise.succeed(.completed(result))
            case .success: promise.succeed(.completed(.failure(StoreError(.raftInternal))))
            case .failure(let error): promise.succeed(.completed(.failure(StoreError(.raftInternal, cause: Self.v1Cause(error)))))
            }
        }
    }

    /// The v1 API's words for a write that did not complete.
    static func v1Cause(_ error: ProposalError) -> String {
        switch error {
        case .timedOut: "raft: Command timeout"
        case .leaderChanged: "leadership changed; the write may or may not have happened"
        case .stopped: "the server is stopping"
        case .noLeader: "raft: proposal dropped"
        case .unreadable: "the command could not be encoded"
        }
    }

    /// As leader, the single authority on TTLs: propose an expiry for each key due now, once.
    func proposeExpirations() {
        let now = clock.now()
        for (key, expiration) in machine.dueExpirations(at: now) where !expiring.contains(key) {
            if proposeUnwaited(Command(.expire(key: key, expiration: expiration), time: now)) { expiring.insert(key) }
        }
    }
}
