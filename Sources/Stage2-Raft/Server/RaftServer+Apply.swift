import NIOCore
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
            let result = machine.apply(request.command, at: entry.index)
            if case .expire(let key, _) = request.command.kind { expiring.remove(key) }
            if case .publish(let name, let peerURL, let clientURL) = request.command.kind {
                let member = Member(name: name, peerURL: peerURL, clientURL: clientURL)
                members[member.id] = member
            }
            if request.origin == id, let waiter = pending.removeValue(forKey: request.requestID) {
                waiter.timeout.cancel()
                waiter.promise.succeed(.completed(result))
            }
        case .confChange:
            guard let change = ConfChange(encoded: entry.data) else {
                machine.skip(to: entry.index)
                return
            }
            node.applyConfChange(change)
            switch change.kind {
            case .addVoter, .addLearner:
                if let member = Member(encoded: change.context) {
                    members[change.nodeID] = member
                    machine.apply(
                        Command(.join(name: member.name, raftURL: member.peerURL, etcdURL: member.clientURL), time: Timestamp(seconds: 0)),
                        at: entry.index)
                    logger.info("member added", metadata: ["name": "\(member.name)", "peer-url": "\(member.peerURL)", "index": "\(entry.index)"])
                } else {
                    machine.skip(to: entry.index)
                }
            case .remove:
                members[change.nodeID] = nil
                machine.skip(to: entry.index)
            }
            // A member added behind a compacted log catches up from a snapshot, and refuses one
            // that does not name it: take a fresh one now (see RaftNode.applyConfChange).
            if change.kind != .remove && storage.firstIndex() > 1 { takeSnapshot(at: entry.index) }
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
        let timeout = loop.scheduleTask(in: configuration.requestTimeout) { [weak self] in
            guard let waiter = self?.pending.removeValue(forKey: requestID) else { return }
            waiter.promise.succeed(.completed(.failure(StoreError(.raftInternal, cause: "raft: Command timeout"))))
        }
        pending[requestID] = (promise, timeout)
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
