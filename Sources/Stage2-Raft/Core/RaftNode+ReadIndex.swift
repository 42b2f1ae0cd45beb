/// Linearizable reads without writing to the log (ReadIndex, thesis §6.4): the leader records
/// its commit index, confirms with a round of heartbeats that it is still the leader, and the
/// read may be served once that index is applied.
extension RaftNode {
    mutating func handleReadIndex(_ message: Message) {
        let context = message.entries.first?.data ?? []
        if voters.count == 1 {
            answerRead(context: context, from: message.from, index: log.committed)
            return
        }
        // Until this leader commits an entry of its term, its commit index may be behind what an
        // earlier leader committed (thesis §6.4 step 1): hold the request.
        guard (try? log.term(log.committed)) == term else {
            readsAwaitingFirstCommit.append(message)
            return
        }
        pendingReads.append(PendingRead(context: context, from: message.from, index: log.committed, acks: [id]))
        broadcastHeartbeat(context: context)
    }

    mutating func releaseReadsAfterFirstCommit() {
        guard !readsAwaitingFirstCommit.isEmpty, (try? log.term(log.committed)) == term else { return }
        let waiting = readsAwaitingFirstCommit
        readsAwaitingFirstCommit = []
        for message in waiting { handleReadIndex(message) }
    }

    /// A heartbeat answer confirms every read up to the one it carries.
    mutating func acknowledgeRead(context: [UInt8], from follower: NodeID) {
        guard let position = pendingReads.firstIndex(where: { $0.context == context }) else { return }
        pendingReads[position].acks.insert(follower)
        let acked = pendingReads[position].acks.filter { voters.contains($0) }.count
        guard acked >= voters.count / 2 + 1 else { return }
        let confirmed = pendingReads[...position]
        pendingReads.removeFirst(position + 1)
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
