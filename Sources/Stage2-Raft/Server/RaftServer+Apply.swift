import NIOCore
import RaftCore
import SingleNode

/// Applying committed entries to the store, and proposing what clients and the TTL clock ask.
extension RaftServer {
    func apply(_ entry: Entry) {
        switch entry.kind {
        case .normal where entry.data.isEmpty:
            machine.skip(to: entry.index)  // a new leader's first entry
        case .normal where entry.data.first == EntryCodec.extensionTag:
            applyExtension(entry)
        case .normal:
            guard let request = EntryCodec.decode(entry.data) else {
                logger.error("skipping an entry this build cannot decode", metadata: ["index": "\(entry.index)"])
                machine.skip(to: entry.index)
                return
            }
            // A member's announcement that commits after its removal must not bring it back.
            if case .publish(let name, _, _) = request.command.kind,
                members[request.origin != 0 ? request.origin : Member.id(forName: name)] == nil
            {
                machine.skip(to: entry.index)
                return
            }
            let result = machine.apply(request.command, at: entry.index)
            if case .expire(let key, _) = request.command.kind { expiring.remove(key) }
            if case .publish(let name, let peerURL, let clientURL) = request.command.kind {
                // Published by the member itself: its ID is the proposer's (a member added by
                // peer URL has an ID other than its name's).
                let memberID = request.origin != 0 ? request.origin : Member.id(forName: name)
                members[memberID] = Member(name: name, peerURL: peerURL, clientURL: clientURL, id: memberID)
            }
            if request.origin == id, let waiter = pending.removeValue(forKey: request.requestID) {
                waiter.promise.succeed(.completed(result))
            }
        case .confChange:
            guard let change = ConfChange(encoded: entry.data) else {
                machine.skip(to: entry.index)
                return
            }
            node.applyConfChange(change)
            switch change.kind {
            case .addVoter, .addLearner, .update:
                if var member = Member(encoded: change.context) {
                    member.id = change.nodeID
                    // A promotion or an update keeps what the member published about itself.
                    if let known = members[change.nodeID] {
                        member.name = known.name
                        member.clientURL = known.clientURL
                    }
                    members[change.nodeID] = member
                    if member.name.isEmpty {
                        machine.skip(to: entry.index)  // known by URL only: recorded by name once it publishes
                    } else if change.kind == .update {
                        machine.apply(
                            Command(.publish(name: member.name, raftURL: member.peerURL, etcdURL: member.clientURL), time: Timestamp(seconds: 0)),
                            at: entry.index)
                    } else {
                        machine.apply(
                            Command(.join(name: member.name, raftURL: member.peerURL, etcdURL: member.clientURL), time: Timestamp(seconds: 0)),
                            at: entry.index)
                    }
                    logger.info(
                        change.kind == .update ? "member updated" : node.confState.learners.contains(change.nodeID) ? "learner added" : "member added",
                        metadata: ["member-id": "\(ClusterIdentity.hex(change.nodeID))", "name": "\(member.name)", "peer-url": "\(member.peerURL)", "index": "\(entry.index)"])
                } else {
                    machine.skip(to: entry.index)
                }
            case .remove:
                let removed = members.removeValue(forKey: change.nodeID)
                heardFrom[change.nodeID] = nil
                if change.nodeID != id { removedMembers.insert(change.nodeID) }
                if let name = removed?.name, !name.isEmpty {
                    machine.apply(Command(.leave(name: name), time: Timestamp(seconds: 0)), at: entry.index)
                } else {
                    machine.skip(to: entry.index)
                }
                logger.info("member removed", metadata: ["member-id": "\(ClusterIdentity.hex(change.nodeID))", "name": "\(removed?.name ?? "")", "index": "\(entry.index)"])
                if change.nodeID == id && !hasHeardOfRemoval {
                    hasHeardOfRemoval = true
                    logger.warning("the member has been permanently removed from the cluster")
                    removalContinuation.yield(())
                }
            }
            membershipChangeApplied(change.nodeID, at: entry.index)
            // A member added behind a compacted log catches up from a snapshot, and refuses one
            // that does not name it: take a fresh one now (see RaftNode.applyConfChange).
            if change.kind != .remove && change.kind != .update && storage.firstIndex() > 1 { takeSnapshot(at: entry.index) }
            for channel in joinWaiters.removeValue(forKey: change.nodeID) ?? [] {
                let answer = PeerFrame.joinResponse(.joined(id: change.nodeID, members: Array(members.values), clusterID: transport.clusterID))
                channel.writeAndFlush(ByteBuffer(bytes: answer.encoded()), promise: nil)
            }
        }
    }

    /// A client's write: proposed here if this member leads, else redirected to the leader.
    func propose(_ kind: Command.Kind, issuedAt time: Timestamp, promise: EventLoopPromise<WriteOutcome>) {
        guard node.role == .leader else {
            if let leader = members[node.leader], !leader.clientURL.isEmpty {
                promise.succeed(.redirect(leaderClientURL: leader.clientURL))
            } else {
                promise.succeed(.completed(.failure(StoreError(.raftInternal))))
            }
            return
        }
        let requestID = nextRequestID
        nextRequestID += 1
        let data = EntryCodec.encode(EntryCodec.Request(origin: id, requestID: requestID, command: Command(kind, time: time)))
        do {
            try node.propose(data)
        } catch {
            promise.succeed(.completed(.failure(StoreError(.raftInternal, cause: "\(error)"))))
            return
        }
        pending[requestID] = (promise, .now() + configuration.requestTimeout)
        scheduleReady()
    }

    /// As leader, the single authority on TTLs: propose an expiry for each key due now, once.
    func proposeExpirations() {
        let now = clock.now()
        for (key, expiration) in machine.dueExpirations(at: now) where !expiring.contains(key) {
            let data = EntryCodec.encode(EntryCodec.Request(origin: id, requestID: 0, command: Command(.expire(key: key, expiration: expiration), time: now)))
            if (try? node.propose(data)) != nil { expiring.insert(key) }
        }
    }
}
