import Testing
import V3

@Suite("Corruption checks: whose history differs", .timeLimit(.minutes(3)))
struct CorruptionCheckTests {
    @Test("Only a peer at the same compaction with another hash differs; one compacted elsewhere hashes another history")
    func verdict() {
        let peers = [
            CorruptionCheck.PeerHash(memberID: 1, hash: 10, compactRevision: 5),
            CorruptionCheck.PeerHash(memberID: 2, hash: 11, compactRevision: 5),
            CorruptionCheck.PeerHash(memberID: 3, hash: 99, compactRevision: 7),
        ]
        #expect(CorruptionCheck.mismatches(localHash: 10, localCompactRevision: 5, peers: peers) == [2])
        #expect(CorruptionCheck.mismatches(localHash: 10, localCompactRevision: -1, peers: peers).isEmpty)
        #expect(CorruptionCheck.mismatches(localHash: 10, localCompactRevision: 5, peers: []).isEmpty)
    }
}
