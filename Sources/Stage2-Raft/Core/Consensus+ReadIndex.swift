/// Linearizable reads without writing to the log (ReadIndex, thesis §6.4): the leader records
/// its commit index, confirms with a round of heartbeats that it is still the leader, and the
/// read may be served once that index is applied.
extension Consensus {
    mutating func handleReadIndex(_ message: Message) {
        let context = message.entries.first?.data ?? []
        if tracker.voters.count == 1 {
            answerRead(context: context, from: message.from, index: log.committed)
            return
        }
        // Until this leader commits an entry of its term, its commit index may be behind what an
        // earlier leader committed (thesis §6.4 step 1): hold the request.
        guard (try? log.term(log.committed)) == term else {
            readOnly.holdUntilFirstCommit(message)
            return
        }
        readOnly.add(context: context, from: message.from, index: log.committed, leader: id)
        broadcastHeartbeat(context: context)
    }

    mutating func releaseReadsAfterFirstCommit() {
        guard !readOnly.awaitingFirstCommit.isEmpty, (try? log.term(log.committed)) == term else { return }
        for message in readOnly.takeHeld() { handleReadIndex(message) }
    }

    /// A heartbeat answer confirms every read up to the one it carries.
    mutating func acknowledgeRead(context: [UInt8], from follower: NodeID) {
        let tracker = self.tracker
        let confirmed = readOnly.acknowledge(context: context, from: follower, isQuorum: tracker.isQuorum)
        for read in confirmed { answerRead(context: read.context, from: read.from, index: read.index) }
    }

    private mutating func answerRead(context: [UInt8], from requester: NodeID, index: UInt64) {
        if requester == id || requester == 0 {
            readStates.append(ReadState(index: index, requestContext: context))
        } else {
            send(Message(kind: .readIndexResponse, to: requester, index: index, entries: [Entry(term: 0, index: 0, data: context)]))
        }
    }
}
