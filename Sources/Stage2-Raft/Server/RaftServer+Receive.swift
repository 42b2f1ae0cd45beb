import Dispatch
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
    func receive(_ frame: PeerFrame, on connection: any PeerConnection) {
        switch frame {
        case .raft(let message):
            if removedMembers.contains(message.from) {
                // As etcd answers a removed member (HTTP 410): it learns it and stops.
                connection.reply(.refused(Self.removedReason))
                return
            }
            if !cutOff.isEmpty && cutOff.contains(message.from) {
                // The lab cut the two apart: as if the network lost it.
                recordForView(message, dropped: true)
                return
            }
            heardFrom[message.from] = loop.now
            node.step(message)
            scheduleReady()
        case .joinRequest(let name, let peerURL, let clientURL):
            handleJoin(Member(name: name, peerURL: peerURL, clientURL: clientURL), on: connection)
        case .leaderQuery(let queryID, let query):
            let answer = answerAsLeader(query)
            connection.reply(.leaderAnswer(id: queryID, answer: answer))
        case .leaderAnswer(let queryID, _) where leaderAnswers.isWaiting(for: queryID):
            // Asked over the persistent connection (see askLeader).
            leaderAnswers.answer(queryID, with: frame)
        case .snapshotChunk(let bytes):
            incomingSnapshots.snapshotPiece(bytes, on: SnapshotReceiver.Connection(id: connection.id, closed: connection.closed))
        case .stateChunk(let bytes):
            incomingSnapshots.statePiece(bytes, on: SnapshotReceiver.Connection(id: connection.id, closed: connection.closed))
        case .snapshotDone(let message):
            // The lab cut the two apart: lost on the way, as the messages are.
            let isCut = !cutOff.isEmpty && cutOff.contains(message.from)
            let connection = SnapshotReceiver.Connection(id: connection.id, closed: connection.closed)
            let wasSnapshot = incomingSnapshots.finish(message, on: connection, drop: isCut) { [weak self] message, data in
                self?.stepSnapshot(message, data: data)
            }
            if wasSnapshot && isCut { recordForView(message, dropped: true) }
        case .joinResponse, .membershipResponse, .leaderAnswer, .memberAnswer:
            peerAnswers.answer(connection.id, with: frame)
        case .memberQuery(let query) where query.first == Self.viewQueryTag:
            // The live view: this member's Raft state, read here on the Raft loop and encoded
            // off it. A member without the view on has nothing to show (nor keys to reveal).
            guard configuration.raftView != nil else {
                connection.reply(.memberAnswer(nil))
                return
            }
            let view = memberView()
            DispatchQueue.global().async {
                connection.reply(.memberAnswer(RaftViewJSON.encode(view)))
            }
        case .memberQuery(let query):
            // Answered off the Raft loop: a question may take a while (a hash of the whole
            // store), and heartbeats must not wait for it.
            let slot = query.first.flatMap { machines[$0] }
            DispatchQueue.global().async {
                let answer = slot?.answerAsMember(query.dropFirst())
                connection.reply(.memberAnswer(answer))
            }
        case .membershipRequest(let request):
            handleMembershipRequest(request, on: connection)
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

    private func stepSnapshot(_ message: Message, data: [UInt8]) {
        var message = message
        message.snapshot?.data = data
        heardFrom[message.from] = loop.now
        node.step(message)
        scheduleReady()
    }
}
