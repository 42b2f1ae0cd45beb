import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RaftCore

/// What peers send: Raft messages stepped into the core, joins, questions for the leader,
/// snapshot pieces and refusals. Runs on the Raft loop (the transport hands every frame over
/// with `execute`).
extension RaftServer {
    func receive(_ frame: PeerFrame, on channel: any Channel) {
        switch frame {
        case .raft(let message):
            if removedMembers.contains(message.from) {
                // As etcd answers a removed member (HTTP 410): it learns it and stops.
                channel.writeAndFlush(ByteBuffer(bytes: PeerFrame.refused(Self.removedReason).encoded()), promise: nil)
                return
            }
            heardFrom[message.from] = loop.now
            node.step(message)
            scheduleReady()
        case .joinRequest(let name, let peerURL, let clientURL):
            handleJoin(Member(name: name, peerURL: peerURL, clientURL: clientURL), on: channel)
        case .leaderQuery(let queryID, let query):
            let answer = answerAsLeader(query)
            channel.writeAndFlush(ByteBuffer(bytes: PeerFrame.leaderAnswer(id: queryID, answer: answer).encoded()), promise: nil)
        case .leaderAnswer(let queryID, _) where leaderQueries[queryID] != nil:
            // Asked over the persistent connection (see askLeader).
            guard let waiter = leaderQueries.removeValue(forKey: queryID) else { return }
            waiter.timeout.cancel()
            waiter.promise.succeed(frame)
        case .snapshotChunk(let bytes):
            let key = ObjectIdentifier(channel)
            if snapshotParts[key] == nil {
                // Forgotten if the connection ends before the snapshot does.
                channel.closeFuture.whenComplete { [weak self] _ in self?.loop.execute { self?.snapshotParts[key] = nil } }
            }
            snapshotParts[key, default: []] += bytes
        case .stateChunk(let bytes):
            let key = ObjectIdentifier(channel)
            if stateSpools[key] == nil {
                let path = SpooledState.newPath(in: stateDirectory, "received")
                guard let file = try? FileWriter(path: path) else {
                    logger.error("cannot write a received state to \(path): the snapshot is refused")
                    channel.close(promise: nil)
                    return
                }
                stateSpools[key] = (path, file)
                // Removed if the connection ends before the snapshot does.
                channel.closeFuture.whenComplete { [weak self] _ in
                    self?.loop.execute { if let spool = self?.stateSpools.removeValue(forKey: key) { unlink(spool.path) } }
                }
            }
            do { try stateSpools[key]?.file.write(bytes) } catch {
                logger.error("cannot write a received state: \(error)")
                channel.close(promise: nil)
            }
        case .snapshotDone(var message):
            let key = ObjectIdentifier(channel)
            guard var data = snapshotParts.removeValue(forKey: key), message.snapshot != nil else { return }
            if let spool = stateSpools.removeValue(forKey: key) {
                // The state came apart, into a file: the snapshot names that file in its place.
                do {
                    try spool.file.finish()
                    var container = try SnapshotContainer(decoding: data)
                    container.other = SpooledState.reference(to: spool.path)
                    data = container.encoded()
                } catch {
                    logger.error("cannot take a received snapshot: \(error)")
                    unlink(spool.path)
                    return
                }
            }
            message.snapshot?.data = data
            heardFrom[message.from] = loop.now
            node.step(message)
            scheduleReady()
        case .joinResponse, .membershipResponse, .leaderAnswer:
            joinAnswers.removeValue(forKey: ObjectIdentifier(channel))?.succeed(frame)
        case .membershipRequest(let request):
            handleMembershipRequest(request, on: channel)
        case .refused(let reason):
            // The transport logged it and hangs up. A removal this member missed (it was down)
            // ends it as if it had applied it.
            if reason == Self.removedReason && !hasHeardOfRemoval {
                hasHeardOfRemoval = true
                logger.warning("the member has been permanently removed from the cluster")
                logger.warning("the data-dir used by this member must be removed")
                removalContinuation.yield(())
            }
        }
    }
}
