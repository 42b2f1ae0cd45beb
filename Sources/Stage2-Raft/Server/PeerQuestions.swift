import NIOCore
import RaftCore

/// Questions this member asks its peers outside Raft, and their answers: a join or a membership
/// change forwarded to the leader, a question only the leader's machine can answer, a member's
/// own answer (a hash of its store, its live view). Each waits at most its timeout.
///
/// `@unchecked Sendable` for the same reason as `RaftServer`: confined to the Raft loop (`ask`
/// and `askLeader` hop there themselves).
final class PeerQuestions: @unchecked Sendable {
    unowned let server: RaftServer
    // Questions asked on connections of their own, by connection.
    private let onOwnConnections: PendingAnswers<ObjectIdentifier>
    // Questions for the leader in flight over the persistent connections, by number.
    private let toLeader: PendingAnswers<UInt64>
    private var nextLeaderQuery: UInt64 = 1

    init(server: RaftServer, loop: any EventLoop) {
        self.server = server
        self.onOwnConnections = PendingAnswers(loop: loop)
        self.toLeader = PendingAnswers(loop: loop)
    }

    private var loop: any EventLoop { server.loop }

    /// Sends `frame` to the peer at `url` on a connection of its own and returns its answer.
    func ask(_ url: String, _ frame: PeerFrame, timeout: TimeAmount = .seconds(10)) async throws -> PeerFrame {
        // A short ask (the live view's) does not wait the usual 2 s to connect either.
        let connection = try await server.transport.dial(url, connectTimeout: min(timeout, .seconds(2)))
        defer { connection.close() }
        let limit = timeout.nanoseconds >= 1_000_000_000 ? "\(timeout.nanoseconds / 1_000_000_000) s" : "\(timeout.nanoseconds / 1_000_000) ms"
        let answer = try await loop.submit {
            self.onOwnConnections.expect(connection.id, within: timeout) { JoinError(description: "no answer within \(limit)") }
        }.get()
        // A peer that hangs up (it refused us: say, TLS on one side only) fails the ask now.
        connection.closed.whenComplete { [weak self, loop] _ in
            loop.execute { [weak self] in
                self?.onOwnConnections.fail(connection.id, JoinError(description: "the peer closed the connection"))
            }
        }
        try await connection.write(frame)
        return try await answer.get()
    }

    /// Asks the leader's machine `query` (the machine's tag, then its own question). On the
    /// leader: answered here. On a follower: sent over the connection to the leader that Raft
    /// messages use, numbered; or, with none up yet, on a connection of its own.
    func askLeader(_ query: [UInt8]) async throws -> [UInt8] {
        let outcome = try await loop.submit { () -> (local: [UInt8]??, url: String?, sent: EventLoopFuture<PeerFrame>?) in
            if self.server.node.role == .leader { return (.some(self.server.machines.answerAsLeader(query)), nil, nil) }
            guard let url = self.server.members[self.server.node.leader]?.peerURL else { return (nil, nil, nil) }
            let queryID = self.nextLeaderQuery
            self.nextLeaderQuery += 1
            guard self.server.transport.send([.leaderQuery(id: queryID, query: query)], to: url) else { return (nil, url, nil) }
            let answer = self.toLeader.expect(queryID, within: self.server.configuration.requestTimeout) { ProposalError.timedOut }
            return (nil, url, answer)
        }.get()
        if let local = outcome.local {
            guard let answer = local else { throw ProposalError.noLeader }
            return answer
        }
        guard let url = outcome.url else { throw ProposalError.noLeader }
        let frame: PeerFrame
        if let sent = outcome.sent { frame = try await sent.get() } else { frame = try await ask(url, .leaderQuery(id: 0, query: query)) }
        guard case .leaderAnswer(_, let answer) = frame else { throw ProposalError.noLeader }
        // It stopped leading between our look and its answer.
        guard let answer else { throw ProposalError.leaderChanged }
        return answer
    }

    /// Hands an answer that arrived to whoever asked it (nobody, if it came too late).
    func answered(_ frame: PeerFrame, on connection: any PeerConnection) {
        if case .leaderAnswer(let queryID, _) = frame, toLeader.isWaiting(for: queryID) {
            toLeader.answer(queryID, with: frame)
        } else {
            onOwnConnections.answer(connection.id, with: frame)
        }
    }

    /// Fails every question still waiting: the server stops.
    func failAll() {
        onOwnConnections.failAll(ProposalError.stopped)
        toLeader.failAll(ProposalError.stopped)
    }
}
