import RaftCore

/// Checks the safety properties of Raft (paper Figure 3) as a simulation runs. Each check is
/// incremental: it looks at what one event changed, so it can run after every step.
struct SafetyChecker {
    struct Violation: Error, CustomStringConvertible {
        var description: String
    }

    // Election Safety: at most one leader per term.
    private var leaderOfTerm: [UInt64: NodeID] = [:]
    // Log Matching: for every (index, term) seen in any log, the data and the previous entry's term.
    private var entryAt: [EntryKey: (dataHash: UInt64, previousTerm: UInt64)] = [:]
    // Committed entries, by index: the term each node saw committed there.
    private(set) var committedTerm: [UInt64: UInt64] = [:]
    private(set) var highestCommitted: UInt64 = 0
    // State Machine Safety: what was applied at each index.
    private var appliedAt: [UInt64: (term: UInt64, dataHash: UInt64)] = [:]
    // Leader Append-Only: a leader's last entry when last seen, per (node, term).
    private var leaderTail: [NodeID: (term: UInt64, index: UInt64, entryTerm: UInt64)] = [:]

    struct EntryKey: Hashable {
        var index: UInt64
        var term: UInt64
    }

    static func hash(_ bytes: [UInt8]) -> UInt64 {
        // FNV-1a: deterministic across runs, unlike Hasher.
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return value
    }

    /// Election Safety and Leader Completeness, whenever a node is seen as leader.
    mutating func checkLeader(_ node: RaftNode<MemoryStorage>, log: (UInt64) -> UInt64?) throws(Violation) {
        guard node.role == .leader else {
            leaderTail[node.id] = nil
            return
        }
        if let other = leaderOfTerm[node.term], other != node.id {
            throw Violation(description: "Election Safety: nodes \(other) and \(node.id) both lead term \(node.term)")
        }
        if leaderOfTerm[node.term] == nil {
            leaderOfTerm[node.term] = node.id
            // Leader Completeness: a new leader holds every committed entry.
            if highestCommitted > 0, let term = log(highestCommitted), term != committedTerm[highestCommitted] {
                throw Violation(description:
                    "Leader Completeness: leader \(node.id) of term \(node.term) has term \(term) at committed index \(highestCommitted), committed with term \(committedTerm[highestCommitted]!)")
            } else if highestCommitted > node.lastIndex {
                throw Violation(description:
                    "Leader Completeness: leader \(node.id) of term \(node.term) ends at \(node.lastIndex), before committed index \(highestCommitted)")
            }
        }
        // Leader Append-Only: while leading a term, a leader never loses or rewrites its tail.
        if let tail = leaderTail[node.id], tail.term == node.term {
            if node.lastIndex < tail.index || log(tail.index).map({ $0 != tail.entryTerm }) == true {
                throw Violation(description: "Leader Append-Only: leader \(node.id) of term \(node.term) rewrote or lost entry \(tail.index)")
            }
        }
        leaderTail[node.id] = (node.term, node.lastIndex, log(node.lastIndex) ?? 0)
    }

    /// Log Matching, for entries a node is about to persist after `previousTerm`.
    mutating func checkAppended(_ entries: [Entry], previousTerm: UInt64, node: NodeID) throws(Violation) {
        var previous = previousTerm
        for entry in entries {
            let key = EntryKey(index: entry.index, term: entry.term)
            let hash = Self.hash(entry.data) ^ UInt64(entry.kind.rawValue)
            if let seen = entryAt[key] {
                if seen.dataHash != hash {
                    throw Violation(description: "Log Matching: node \(node) has different data at index \(entry.index) term \(entry.term)")
                }
                if seen.previousTerm != previous {
                    throw Violation(description:
                        "Log Matching: node \(node) has term \(previous) before index \(entry.index) term \(entry.term); another log has \(seen.previousTerm)")
                }
            } else {
                entryAt[key] = (hash, previous)
            }
            previous = entry.term
        }
    }

    /// Records that a node's log is committed through `commit`; every node must agree on the
    /// term of each committed index.
    mutating func checkCommitted(through commit: UInt64, from low: UInt64, node: NodeID, log: (UInt64) -> UInt64?) throws(Violation) {
        guard commit >= low else { return }
        for index in low...commit {
            guard let term = log(index) else { continue }
            if let seen = committedTerm[index], seen != term {
                throw Violation(description: "committed entry changed: index \(index) committed with term \(seen), node \(node) has term \(term)")
            }
            committedTerm[index] = term
        }
        highestCommitted = max(highestCommitted, commit)
    }

    /// State Machine Safety: no two nodes apply different entries at one index.
    mutating func checkApplied(_ entry: Entry, node: NodeID) throws(Violation) {
        let hash = Self.hash(entry.data) ^ UInt64(entry.kind.rawValue)
        if let seen = appliedAt[entry.index], seen != (entry.term, hash) {
            throw Violation(description:
                "State Machine Safety: node \(node) applied term \(entry.term) at index \(entry.index), another node applied term \(seen.term)")
        }
        appliedAt[entry.index] = (entry.term, hash)
    }
}
