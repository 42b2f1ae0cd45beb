#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import RaftCore
import SingleNode

/// The machines this member applies the log to, by the tag their entries carry: Stage 1's v1
/// store always, and the one `RaftServerConfiguration.stateMachine` names (Stage 4's v3 store).
/// Every normal entry goes to its owner; the others only move the v1 store's index past it,
/// since v1 indexes are Raft indexes.
///
/// `@unchecked Sendable` for the same reason as `RaftServer`: confined to the Raft loop.
final class StateMachines: @unchecked Sendable {
    unowned let server: RaftServer
    let v1: StoreMachine
    private let others: [UInt8: MachineSlot]

    init(server: RaftServer, v1: StoreMachine, other: (any ReplicatedStateMachine)?) {
        self.server = server
        self.v1 = v1
        self.others = Dictionary(other.map { [($0.tagValue, MachineSlot($0))] } ?? [], uniquingKeysWith: { $1 })
    }

    /// Applies a normal entry (not a new leader's empty one) to its owner, and hands the result
    /// to the caller waiting on this member if it proposed it.
    func apply(_ entry: Entry) {
        guard let envelope = Envelope(decoding: entry.data) else {
            server.logger.error("skipping an entry this build cannot decode", metadata: ["index": "\(entry.index)"])
            v1.skip(to: entry.index)
            return
        }
        let result: (any Sendable)?
        if envelope.tag == StoreMachine.tag {
            result = applyV1(envelope, at: entry.index)
        } else {
            v1.skip(to: entry.index)
            guard let slot = others[envelope.tag] else {
                // Skipping it would lose that machine's data for good once a snapshot covers it.
                server.logger.critical("\(MissingMachine())", metadata: ["index": "\(entry.index)", "tag": "\(envelope.tag)"])
                exit(1)
            }
            result = slot.apply(envelope.payload, entry.index)
            if result == nil { server.logger.error("skipping an entry this build cannot decode", metadata: ["index": "\(entry.index)"]) }
        }
        if envelope.origin == server.id { server.proposer.applied(envelope.requestID, result: result) }
    }

    /// A v1 command, with what the server itself learns from it: a member's published URLs,
    /// and that a key it asked to expire has.
    private func applyV1(_ envelope: Envelope, at index: UInt64) -> (any Sendable)? {
        guard var command = StoreMachine.decode(envelope.payload) else {
            server.logger.error("skipping an entry this build cannot decode", metadata: ["index": "\(index)"])
            v1.skip(to: index)
            return nil
        }
        if case .publish(let name, _, let clientURL) = command.kind {
            // Published by the member itself: its ID is the proposer's (a member added by peer
            // URL has an ID other than its name's). As in etcd, a member publishes its name and
            // client URL only: its peer URL is the one the membership records (changed by
            // `member update` alone), whatever its flags say now.
            let memberID = envelope.origin != 0 ? envelope.origin : Member.id(forName: name)
            // An announcement that commits after the member's removal must not bring it back.
            guard let peerURL = server.membership.members[memberID]?.peerURL else {
                v1.skip(to: index)
                return nil
            }
            command = Command(.publish(name: name, raftURL: peerURL, etcdURL: clientURL), time: command.time)
            server.membership.members[memberID] = Member(name: name, peerURL: peerURL, clientURL: clientURL, id: memberID)
        }
        let result = v1.apply(command, at: index)
        if case .expire(let key, _) = command.kind { server.proposer.expired(key) }
        return result
    }

    /// The answer of the machine `query` names (its tag, then its question), if this member
    /// leads and the machine can answer.
    func answerAsLeader(_ query: [UInt8]) -> [UInt8]? {
        guard server.node.role == .leader, let tag = query.first, let slot = others[tag] else { return nil }
        return slot.answer(query.dropFirst())
    }

    /// Answers a question for this member's own machine (its tag, then its question) on
    /// `connection`: off the Raft loop, since a question may take a while (a hash of the whole
    /// store) and heartbeats must not wait for it.
    func answerAsMember(_ query: [UInt8], on connection: any PeerConnection) {
        let slot = query.first.flatMap { others[$0] }
        DispatchQueue.global().async {
            connection.reply(.memberAnswer(slot?.answerAsMember(query.dropFirst())))
        }
    }

    /// An entry's payload in words, for the live view.
    func summarize(_ envelope: Envelope) -> String {
        if envelope.tag == StoreMachine.tag {
            return StoreMachine.decode(envelope.payload).map(StoreMachine.summarize) ?? "v1 (unreadable)"
        }
        return others[envelope.tag]?.summarize(envelope.payload) ?? "machine \(envelope.tag) entry"
    }
}

/// A snapshot or an entry for a machine this build does not run: the v3 store's, read by
/// `etcd-stage2` or `etcd-stage3` on a data directory the full etcd wrote.
public struct MissingMachine: Error, CustomStringConvertible {
    public var description: String {
        "this data directory holds the v3 store, which this binary does not run: start the full etcd on it (a stage binary would drop the v3 data at its next snapshot)"
    }
}
