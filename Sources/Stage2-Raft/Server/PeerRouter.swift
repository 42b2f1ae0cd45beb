import NIOCore
import RaftCore

/// What peers send, routed to whoever handles it (etcd's peer handler does this for its peer
/// port): Raft messages to the core, joins and membership requests to `MembershipService`,
/// questions to the machines, snapshot pieces to the `Snapshotter`, answers to `PeerQuestions`.
/// Runs on the Raft loop: the transport hands every frame over with `execute`.
///
/// `@unchecked Sendable` for the same reason as `RaftServer`: confined to the Raft loop.
final class PeerRouter: @unchecked Sendable {
    unowned let server: RaftServer

    init(server: RaftServer) {
        self.server = server
    }

    func receive(_ frame: PeerFrame, on connection: any PeerConnection) {
        let server = self.server
        switch frame {
        case .raft(let message):
            if server.membership.removed.contains(message.from) {
                // As etcd answers a removed member (HTTP 410): it learns it and stops.
                connection.reply(.refused(MembershipService.removedReason))
                return
            }
            if !server.view.cutOff.isEmpty && server.view.cutOff.contains(message.from) {
                // The lab cut the two apart: as if the network lost it.
                server.view.recordForView(message, dropped: true)
                return
            }
            server.step(message)
        case .joinRequest(let name, let peerURL, let clientURL):
            server.membership.handleJoin(Member(name: name, peerURL: peerURL, clientURL: clientURL), on: connection)
        case .leaderQuery(let queryID, let query):
            let answer = server.machines.answerAsLeader(query)
            connection.reply(.leaderAnswer(id: queryID, answer: answer))
        case .snapshotChunk(let bytes):
            server.snapshots.incoming.snapshotPiece(bytes, on: SnapshotReceiver.Connection(id: connection.id, closed: connection.closed))
        case .stateChunk(let bytes):
            server.snapshots.incoming.statePiece(bytes, on: SnapshotReceiver.Connection(id: connection.id, closed: connection.closed))
        case .snapshotDone(let message):
            // The lab cut the two apart: lost on the way, as the messages are.
            let isCut = !server.view.cutOff.isEmpty && server.view.cutOff.contains(message.from)
            let connection = SnapshotReceiver.Connection(id: connection.id, closed: connection.closed)
            let wasSnapshot = server.snapshots.incoming.finish(message, on: connection, drop: isCut) { [weak server] message, data in
                var message = message
                message.snapshot?.data = data
                server?.step(message)
            }
            if wasSnapshot && isCut { server.view.recordForView(message, dropped: true) }
        case .joinResponse, .membershipResponse, .leaderAnswer, .memberAnswer:
            server.questions.answered(frame, on: connection)
        case .memberQuery(let query) where query.first == LiveView.viewQueryTag:
            server.view.answerViewQuery(on: connection)
        case .memberQuery(let query):
            server.machines.answerAsMember(query, on: connection)
        case .membershipRequest(let request):
            server.membership.handleRequest(request, on: connection)
        case .refused(let reason):
            // The transport logged it and hangs up. A removal this member missed (it was down)
            // ends it as if it had applied it.
            if reason == MembershipService.removedReason { server.membership.learnedOfRemoval(byRefusal: true) }
        }
    }
}
