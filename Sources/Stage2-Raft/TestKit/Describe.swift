import RaftCore

// One-line, readable printers of the core's values, for the golden interaction tests, failing
// assertions and anyone stepping through a cluster by hand. Stable by design: the golden files
// checked into Tests/RaftTests/Interaction compare against exactly these strings.

extension Entry {
    /// `term/index` and what the entry carries: `1/3 "x"`, `2/5 empty`, `1/2 conf add-voter 4`.
    public func describe() -> String {
        let position = "\(term)/\(index)"
        switch kind {
        case .confChange:
            guard let change = ConfChange(encoded: data) else { return "\(position) conf (unreadable)" }
            return "\(position) conf \(change.describe())"
        case .normal:
            guard !data.isEmpty else { return "\(position) empty" }
            let text = String(decoding: data, as: UTF8.self)
            return "\(position) \"\(text.count > 24 ? String(text.prefix(24)) + "…" : text)\""
        }
    }
}

extension ConfChange {
    /// `add-voter 4`, `add-learner 4`, `remove 2`.
    public func describe() -> String {
        switch kind {
        case .addVoter: "add-voter \(nodeID)"
        case .addLearner: "add-learner \(nodeID)"
        case .remove: "remove \(nodeID)"
        case .update: "update \(nodeID)"
        }
    }
}

extension Message {
    /// `1->2 append term=1 log=1/3 commit=3 entries=[1/4 "x"]`: sender, receiver, kind, then the
    /// fields that kind uses (zero fields left out).
    public func describe() -> String {
        var parts = ["\(from)->\(to)", "\(kind)", "term=\(term)"]
        switch kind {
        case .append:
            parts.append("log=\(logTerm)/\(index)")
            parts.append("commit=\(commit)")
            if !entries.isEmpty { parts.append("entries=[\(entries.map { $0.describe() }.joined(separator: ", "))]") }
        case .appendResponse:
            parts.append(reject ? "rejected index=\(index) hint=\(rejectHint)" : "index=\(index)")
        case .vote, .preVote:
            parts.append("log=\(logTerm)/\(index)")
        case .voteResponse, .preVoteResponse:
            parts.append(reject ? "rejected" : "granted")
        case .heartbeat:
            parts.append("commit=\(commit)")
        case .snapshot:
            if let metadata = snapshot?.metadata {
                parts.append("snapshot=\(metadata.term)/\(metadata.index) voters=\(metadata.confState.voters.sorted())")
            }
        case .readIndex, .readIndexResponse:
            parts.append("index=\(index)")
        default:
            break
        }
        return parts.joined(separator: " ")
    }
}

extension RaftNode {
    /// `1: leader term=2 vote=1 commit=4 applied=4 last=4`, and for a leader one more line per
    /// other member: `  2: match=4 next=5 replicate`.
    public func describe() -> String {
        var line = "\(id): \(role.name) term=\(term) vote=\(vote) commit=\(commitIndex) applied=\(appliedIndex) last=\(lastIndex)"
        if role != .leader, leader != 0 { line += " leader=\(leader)" }
        let conf = confState
        if !conf.learners.isEmpty { line += " learners=\(conf.learners.sorted())" }
        var lines = [line]
        if role == .leader {
            for (member, progress) in progress.sorted(by: { $0.key < $1.key }) where member != id {
                lines.append("  \(member): match=\(progress.match) next=\(progress.next) \(progress.state)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The persisted log (what its storage holds past the snapshot), committed entries marked `*`.
    public func describeLog() -> String {
        let (first, last) = (storage.firstIndex(), storage.lastIndex())
        guard last >= first, let entries = try? storage.entries(first, last + 1, maxBytes: .max) else {
            return "\(id): (empty log)"
        }
        return "\(id): " + entries.map { ($0.index <= commitIndex ? "*" : "") + $0.describe() }.joined(separator: " | ")
    }
}

extension Ready {
    /// What this Ready asks of its node, one line per non-empty part.
    public func describe() -> [String] {
        var lines: [String] = []
        if let softState { lines.append("role: \(softState.role.name), leader \(softState.leader)") }
        if let hardState { lines.append("hard state: term=\(hardState.term) vote=\(hardState.vote) commit=\(hardState.commit)") }
        if let snapshot { lines.append("snapshot: \(snapshot.metadata.term)/\(snapshot.metadata.index)") }
        if !entries.isEmpty { lines.append("persist: " + entries.map { $0.describe() }.joined(separator: ", ")) }
        if !committedEntries.isEmpty { lines.append("apply: " + committedEntries.map { $0.describe() }.joined(separator: ", ")) }
        for message in messages { lines.append("send: " + message.describe()) }
        for state in readStates { lines.append("read state: index=\(state.index)") }
        return lines
    }
}
