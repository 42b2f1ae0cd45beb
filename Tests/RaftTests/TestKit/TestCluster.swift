import RaftCore

/// Nodes wired by hand: every message goes into `inFlight`, and the test decides what is
/// delivered. Each node's `Ready` is handled exactly as the contract says: persist to its
/// `MemoryStorage`, then send, then apply, then advance.
struct TestCluster {
    var nodes: [NodeID: RaftNode<MemoryStorage>] = [:]
    var inFlight: [Message] = []
    // What each node's state machine applied, in order (normal entries with data only).
    var applied: [NodeID: [Entry]] = [:]
    // Every entry each node applied, empty ones and membership changes included.
    var appliedEntries: [NodeID: [Entry]] = [:]
    var readStates: [NodeID: [ReadState]] = [:]
    // Links that drop everything: (from, to).
    var cut: Set<[NodeID]> = []

    init(size: Int, preVote: Bool = true, checkQuorum: Bool = true, electionTick: Int = 10, configure: (inout RaftConfig) -> Void = { _ in }) {
        let members = (1...UInt64(size)).map { $0 }
        for member in members {
            var config = RaftConfig(id: member)
            config.preVote = preVote
            config.checkQuorum = checkQuorum
            config.electionTick = electionTick
            config.randomSeed = 42
            configure(&config)
            nodes[member] = RaftNode(config: config, storage: MemoryStorage(confState: ConfState(voters: members)))
            applied[member] = []
        }
    }

    var ids: [NodeID] { nodes.keys.sorted() }

    func node(_ id: NodeID) -> RaftNode<MemoryStorage> { nodes[id]! }

    /// The leader, if exactly one node thinks it is leader in the highest term.
    var leader: NodeID? {
        let leaders = nodes.values.filter { $0.role == .leader }
        let top = leaders.map(\.term).max()
        let inTop = leaders.filter { $0.term == top }
        return inTop.count == 1 ? inTop[0].id : nil
    }

    /// Handles one node's Ready per the contract, queueing its messages.
    mutating func handleReady(_ id: NodeID) {
        guard var node = nodes[id], node.hasReady else { return }
        let ready = node.ready()
        if let snapshot = ready.snapshot { try! node.storage.applySnapshot(snapshot) }
        node.storage.append(ready.entries)
        if let hardState = ready.hardState { node.storage.setHardState(hardState) }
        inFlight += ready.messages
        if let snapshot = ready.snapshot {
            applied[id] = (applied[id] ?? []).filter { $0.index <= snapshot.metadata.index }
        }
        appliedEntries[id, default: []] += ready.committedEntries
        for entry in ready.committedEntries {
            switch entry.kind {
            case .normal where !entry.data.isEmpty: applied[id, default: []].append(entry)
            case .confChange: node.applyConfChange(ConfChange(encoded: entry.data)!)
            default: break
            }
        }
        readStates[id, default: []] += ready.readStates
        node.advance(ready)
        nodes[id] = node
    }

    /// Delivers queued messages (and the answers they cause) until nothing is left.
    mutating func stabilize(maxRounds: Int = 1000) {
        for _ in 0..<maxRounds {
            for id in ids { handleReady(id) }
            if inFlight.isEmpty { return }
            let batch = inFlight
            inFlight = []
            for message in batch where nodes[message.to] != nil && !cut.contains([message.from, message.to]) {
                nodes[message.to]!.step(message)
            }
        }
        fatalError("the cluster did not stabilize")
    }

    mutating func tick(_ id: NodeID, times: Int = 1) {
        for _ in 0..<times { nodes[id]!.tick() }
    }

    mutating func tickAll(times: Int = 1) {
        for _ in 0..<times { for id in ids { nodes[id]!.tick() } }
    }

    /// Makes `id` leader by campaigning and delivering everything.
    mutating func elect(_ id: NodeID) {
        nodes[id]!.campaign()
        stabilize()
    }

    mutating func propose(_ id: NodeID, _ text: String) throws(RaftError) {
        try nodes[id]!.propose(Array(text.utf8))
    }

    func appliedTexts(_ id: NodeID) -> [String] {
        applied[id, default: []].map { String(decoding: $0.data, as: UTF8.self) }
    }

    mutating func isolate(_ id: NodeID) {
        for other in ids where other != id {
            cut.insert([id, other])
            cut.insert([other, id])
        }
    }

    mutating func heal() { cut = [] }

    /// Takes queued messages of one kind out of flight.
    mutating func take(_ kind: MessageKind) -> [Message] {
        for id in ids { handleReady(id) }
        let taken = inFlight.filter { $0.kind == kind }
        inFlight.removeAll { $0.kind == kind }
        return taken
    }
}
