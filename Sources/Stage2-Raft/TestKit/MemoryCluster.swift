import RaftCore

/// Nodes wired by hand in one process: every message goes into `inFlight`, and the caller
/// decides what is delivered, dropped or cut. Each node's `Ready` is handled by the shared
/// loop (`handleReady(with:)`), so what a test sees here is what the contract promises.
public struct MemoryCluster {
    public var nodes: [NodeID: RaftNode<MemoryStorage>] = [:]
    /// Messages sent and not yet delivered, in the order they were sent.
    public var inFlight: [Message] = []
    /// What each node's state machine applied, in order (normal entries with data only); a
    /// snapshot replaces what it covers.
    public var applied: [NodeID: [Entry]] = [:]
    /// Every entry each node applied, empty ones and membership changes included.
    public var appliedEntries: [NodeID: [Entry]] = [:]
    public var readStates: [NodeID: [ReadState]] = [:]
    /// Links that drop everything: (from, to).
    public var cut: Set<[NodeID]> = []

    /// Nodes 1...size, all voters, seeded so every run elects the same way.
    public init(
        size: Int, preVote: Bool = true, checkQuorum: Bool = true, electionTick: Int = 10, configure: (inout RaftConfig) -> Void = { _ in }
    ) {
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

    public var ids: [NodeID] { nodes.keys.sorted() }

    public func node(_ id: NodeID) -> RaftNode<MemoryStorage> { nodes[id]! }

    /// The leader, if exactly one node thinks it is leader in the highest term.
    public var leader: NodeID? {
        let leaders = nodes.values.filter { $0.role == .leader }
        let top = leaders.map(\.term).max()
        let inTop = leaders.filter { $0.term == top }
        return inTop.count == 1 ? inTop[0].id : nil
    }

    /// Collects what one Ready sends; applying is recorded from the Ready afterwards.
    private struct Outbox: ReadyHandler {
        var messages: [Message] = []
        mutating func send(_ messages: [Message]) { self.messages += messages }
    }

    /// Handles one node's Ready per the contract, queueing its messages; returns it, if any.
    @discardableResult
    public mutating func handleReady(_ id: NodeID) -> Ready? {
        guard var node = nodes[id] else { return nil }
        var outbox = Outbox()
        guard let ready = node.handleReady(with: &outbox) else { return nil }
        nodes[id] = node
        inFlight += outbox.messages
        if let snapshot = ready.snapshot {
            applied[id] = (applied[id] ?? []).filter { $0.index <= snapshot.metadata.index }
        }
        appliedEntries[id, default: []] += ready.committedEntries
        applied[id, default: []] += ready.committedEntries.filter { $0.kind == .normal && !$0.data.isEmpty }
        readStates[id, default: []] += ready.readStates
        return ready
    }

    /// Steps one message into its receiver, unless the receiver is gone or the link is cut.
    /// Returns whether it was delivered.
    @discardableResult
    public mutating func deliver(_ message: Message) -> Bool {
        guard nodes[message.to] != nil, !cut.contains([message.from, message.to]) else { return false }
        nodes[message.to]!.step(message)
        return true
    }

    /// Delivers queued messages (and the answers they cause) until nothing is left.
    public mutating func stabilize(maxRounds: Int = 1000) {
        for _ in 0..<maxRounds {
            for id in ids { handleReady(id) }
            if inFlight.isEmpty { return }
            let batch = inFlight
            inFlight = []
            for message in batch { deliver(message) }
        }
        fatalError("the cluster did not stabilize in \(maxRounds) rounds")
    }

    public mutating func tick(_ id: NodeID, times: Int = 1) {
        for _ in 0..<times { nodes[id]!.tick() }
    }

    public mutating func tickAll(times: Int = 1) {
        for _ in 0..<times { for id in ids { nodes[id]!.tick() } }
    }

    /// Makes `id` leader by campaigning and delivering everything.
    public mutating func elect(_ id: NodeID) {
        nodes[id]!.campaign()
        stabilize()
    }

    public mutating func propose(_ id: NodeID, _ text: String) throws(RaftError) {
        try nodes[id]!.propose(Array(text.utf8))
    }

    public func appliedTexts(_ id: NodeID) -> [String] {
        applied[id, default: []].map { String(decoding: $0.data, as: UTF8.self) }
    }

    /// Cuts every link to and from `id`.
    public mutating func isolate(_ id: NodeID) {
        for other in ids where other != id {
            cut.insert([id, other])
            cut.insert([other, id])
        }
    }

    public mutating func heal() { cut = [] }

    /// Takes queued messages of one kind out of flight.
    public mutating func take(_ kind: MessageKind) -> [Message] {
        for id in ids { handleReady(id) }
        let taken = inFlight.filter { $0.kind == kind }
        inFlight.removeAll { $0.kind == kind }
        return taken
    }
}
