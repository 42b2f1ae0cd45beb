import NIOCore
import RaftCore
import SingleNode

/// The joining side of the v1 join protocol: asks the given peers, in turn, to add `member`,
/// following redirects to the leader, a few rounds before giving up. It only talks; what the
/// answer means for the member (its ID, the cluster's ID, the members it learns) is the
/// server's to record. Its two surroundings are parameters, so it is tested without a
/// cluster: how a question reaches a peer (`ask`) and how a pause between rounds passes.
struct JoinClient: Sendable {
    /// What a join that succeeded learned.
    struct Joined: Equatable {
        /// The ID the cluster gave this member (its name's, or the one `member add` gave its URL).
        var id: NodeID
        var members: [Member]
        /// 0 from a member that did not say.
        var clusterID: UInt64
        /// The peer that answered.
        var through: String
    }

    let member: Member
    /// Sends a frame to a peer URL on a connection of its own and returns its answer.
    let ask: @Sendable (_ url: String, _ frame: PeerFrame) async throws -> PeerFrame
    /// Waits between rounds; throws to end the join (the member stops).
    let pause: @Sendable (TimeAmount) async throws -> Void
    /// Says how the last round went before the next.
    var onRetry: @Sendable (_ lastError: String) -> Void = { _ in }
    var rounds = 20

    func join(through peers: [String]) async throws -> Joined {
        // Asking itself would only ever hear "no leader": a mistake to name at once.
        let address = { (url: String) in url.split(separator: "/").last(where: { !$0.isEmpty }).map(String.init) ?? url }
        let others = peers.filter { address($0) != address(member.peerURL) }
        guard !others.isEmpty else {
            throw JoinError(description: "cannot join through \(peers.joined(separator: ",")): that is this machine's own peer address; give a machine already in the cluster")
        }
        var lastError = "no machine answered"
        for round in 0..<rounds {
            if round > 0 { onRetry(lastError) }
            for peer in others {
                // As given: a bare host:port (the original -C) is dialed with the peer port's
                // security, an http:// URL without it. A follower redirects to the leader.
                var target = peer
                for _ in 0..<3 {
                    let answer: PeerFrame.JoinAnswer
                    do {
                        guard case .joinResponse(let reply) = try await ask(target, .joinRequest(name: member.name, peerURL: member.peerURL, clientURL: member.clientURL)) else {
                            lastError = "\(target): an unexpected answer"
                            break
                        }
                        answer = reply
                    } catch {
                        lastError = "\(target): \(error)"
                        break
                    }
                    switch answer {
                    case .joined(let id, let members, let clusterID):
                        return Joined(id: id, members: members, clusterID: clusterID, through: target)
                    case .redirect(let leader):
                        target = leader
                    case .refused(let reason) where reason == ErrorCode.noMorePeer.message || reason.contains("was removed from the cluster"):
                        // Final: asking again cannot change it.
                        throw JoinError(description: reason)
                    case .refused(let reason):
                        // "No leader yet": the next peer, or the next round, may know better;
                        // asking this one again at once would not.
                        lastError = "\(target): \(reason)"
                    }
                    if case .refused = answer { break }
                }
            }
            try await pause(.milliseconds(200 * Int64(min(round + 1, 5))))
        }
        throw JoinError(description: "cannot join the cluster via \(peers.joined(separator: ",")): \(lastError)")
    }
}

/// Joining failed, or a question to a peer went unanswered; the message says why.
public struct JoinError: Error, Equatable, CustomStringConvertible {
    public var description: String
}
