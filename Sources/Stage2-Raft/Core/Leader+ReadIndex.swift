/// Linearizable reads without writing to the log (ReadIndex, thesis §6.4): the leader records
/// its commit index, confirms with a round of heartbeats that it is still the leader, and the
/// read may be served once that index is applied.
extension Leader {
    static func handleReadIndex<S: RaftStorage>(_ r: inout Consensus<S>, _ message: Message) {
        let context = message.entries.first?.data ?? []
        if r.tracker.voters.count == 1 {
            answerRead(&r, context: context, from: message.from, index: r.log.committed)
            return
        }
        // Until this leader commits an entry of its term, its commit index may be behind what an
        // earlier leader committed (thesis §6.4 step 1): hold the request.
        guard (try? r.log.term(r.log.committed)) == r.term else {
            r.readOnly.holdUntilFirstCommit(message)
            return
        }
        r.readOnly.add(context: context, from: message.from, index: r.log.committed, leader: r.id)
        broadcastHeartbeat(&r, context: context)
    }

    static func releaseReadsAfterFirstCommit<S: RaftStorage>(_ r: inout Consensus<S>) {
        guard !r.readOnly.awaitingFirstCommit.isEmpty, (try? r.log.term(r.log.committed)) == r.term else { return }
        for message in r.readOnly.takeHeld() { handleReadIndex(&r, message) }
    }

    /// A heartbeat answer confirms every read up to the one it carries.
    static func acknowledgeRead<S: RaftStorage>(_ r: inout Consensus<S>, context: [UInt8], from follower: NodeID) {
        let tracker = r.tracker
        let confirmed = r.readOnly.acknowledge(context: context, from: follower, isQuorum: tracker.isQuorum)
        for read in confirmed { answerRead(&r, context: read.context, from: read.from, index: read.index) }
    }

    private static func answerRead<S: RaftStorage>(_ r: inout Consensus<S>, context: [UInt8], from requester: NodeID, index: UInt64) {
        if requester == r.id || requester == 0 {
            r.readStates.append(ReadState(index: index, requestContext: context))
        } else {
            r.send(Message(
                kind: .readIndexResponse, to: requester, index: index,
                entries: [Entry(term: 0, index: 0, data: context)]))
        }
    }
}
