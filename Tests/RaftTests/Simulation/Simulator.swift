import RaftCore
import RaftTestKit

/// A deterministic simulation of a Raft cluster: a network that drops, duplicates, delays and
/// reorders messages and can be partitioned (symmetric, asymmetric, leader isolated); nodes
/// that crash and restart from what they persisted, including between persisting and sending
/// and between sending and applying; membership changes and snapshots under load. Every step is
/// drawn from a seeded generator, so a seed replays a run exactly, and the safety checker runs
/// after every step.
struct Simulator {
    struct Options {
        var nodeCount = 5
        var initialVoters = 3
        var dropRate = 0.05
        var duplicateRate = 0.02
        var maxDelay = 20
        // Bytes of entries per append; tiny values send one entry per message.
        var maxSizePerMessage = 4096
        var faultInjection: FaultInjection?
    }

    private struct SimNode {
        var raft: RaftNode<MemoryStorage>
        // What survives a crash: the storage as of the last completed persist.
        var durable: MemoryStorage
        var isUp = true
    }

    private struct InFlight {
        var message: Message
        var deliverAt: Int
    }

    let seed: UInt64
    let options: Options
    private var random: SeededRandom
    private var nodes: [NodeID: SimNode] = [:]
    private var network: [InFlight] = []
    private var cut: Set<[NodeID]> = []
    private(set) var step = 0
    private var checker = SafetyChecker()
    private var nextProposal = 0
    // Proposals a client was told are committed: data -> (index, term).
    private(set) var acknowledged: [String: (index: UInt64, term: UInt64)] = [:]
    private var proposedBy: [String: NodeID] = [:]
    private(set) var statistics: [String: Int] = [:]
    // How likely the node whose Ready is being handled is to crash at each point.
    private var crashChance = 0.0

    init(seed: UInt64, options: Options = Options()) {
        self.seed = seed
        self.options = options
        self.random = SeededRandom(seed: seed)
        let voters = (1...UInt64(options.initialVoters)).map { $0 }
        for id in 1...UInt64(options.nodeCount) {
            let storage = MemoryStorage(confState: ConfState(voters: voters))
            nodes[id] = SimNode(raft: RaftNode(config: config(id, applied: 0), storage: storage), durable: storage)
        }
    }

    private func config(_ id: NodeID, applied: UInt64) -> RaftConfig {
        var config = RaftConfig(id: id)
        config.randomSeed = seed &+ id
        config.applied = applied
        config.maxInflightMessages = 8
        config.maxSizePerMessage = options.maxSizePerMessage
        config.faultInjection = options.faultInjection
        return config
    }

    private mutating func chance(_ probability: Double) -> Bool {
        Double(random.next() % 1_000_000) < probability * 1_000_000
    }

    private mutating func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[Int(random.next() % UInt64(items.count))]
    }

    private var upNodes: [NodeID] { nodes.keys.sorted().filter { nodes[$0]!.isUp } }

    var leader: NodeID? {
        upNodes.filter { nodes[$0]!.raft.role == .leader }.max { nodes[$0]!.raft.term < nodes[$1]!.raft.term }
    }

    private mutating func count(_ event: String) { statistics[event, default: 0] += 1 }

    /// Runs `steps` random steps, then heals everything and lets the cluster settle.
    mutating func run(steps: Int) throws(SafetyChecker.Violation) {
        for _ in 0..<steps { try randomStep() }
        try settle()
    }

    mutating func randomStep() throws(SafetyChecker.Violation) {
        step += 1
        let roll = random.next() % 1000
        switch roll {
        case 0..<300: try deliver()
        case 300..<550: if let id = pick(upNodes) { try handleReady(id, crashChance: 0.01) }
        case 550..<800: if let id = pick(upNodes) { tick(id) }
        case 800..<930: propose()
        case 930..<960: partition()
        case 960..<975: try crashAndRestart()
        case 975..<988: changeMembership()
        default: try snapshot()
        }
    }

    private mutating func tick(_ id: NodeID) {
        nodes[id]!.raft.tick()
        count("tick")
    }

    /// Delivers every message whose delay has passed, in random order (reordering), each
    /// perhaps duplicated; messages to a crashed node or across a cut are lost.
    private mutating func deliver() throws(SafetyChecker.Violation) {
        var due = network.filter { $0.deliverAt <= step }
        network.removeAll { $0.deliverAt <= step }
        while !due.isEmpty {
            let message = due.remove(at: Int(random.next() % UInt64(due.count))).message
            guard nodes[message.to]?.isUp == true, !cut.contains([message.from, message.to]) else {
                count("lost")
                continue
            }
            if chance(options.duplicateRate) {
                network.append(InFlight(message: message, deliverAt: step + Int(random.next() % UInt64(options.maxDelay + 1))))
                count("duplicated")
            }
            nodes[message.to]!.raft.step(message)
            count("delivered")
            try check(message.to)
        }
    }

    /// Handles one Ready with the shared loop, this simulator deciding where it crashes, where
    /// messages go and what is checked between the steps (see the `ReadyHandler` conformance).
    private mutating func handleReady(_ id: NodeID, crashChance: Double) throws(SafetyChecker.Violation) {
        var raft = nodes[id]!.raft
        guard raft.hasReady else { return }
        try check(id)
        self.crashChance = crashChance
        // Nil: the node crashed part way, and `restart` already replaced it from its durable state.
        guard try raft.handleReady(with: &self) != nil else { return }
        nodes[id]!.raft = raft
        try check(id)
    }

    mutating func send(_ messages: [Message]) {
        for message in messages {
            if chance(options.dropRate) {
                count("dropped")
                continue
            }
            network.append(InFlight(message: message, deliverAt: step + Int(random.next() % UInt64(options.maxDelay + 1))))
            count("sent")
        }
    }

    private mutating func check(_ id: NodeID) throws(SafetyChecker.Violation) {
        let raft = nodes[id]!.raft
        try checker.checkLeader(raft, log: { raft.term(at: $0) })
    }

    private mutating func propose() {
        guard let id = chance(0.8) ? leader ?? pick(upNodes) : pick(upNodes) else { return }
        nextProposal += 1
        let text = "p\(nextProposal)"
        if (try? nodes[id]!.raft.propose(Array(text.utf8))) != nil {
            proposedBy[text] = id
            count("proposed")
        }
    }

    private mutating func partition() {
        let ids = nodes.keys.sorted()
        switch random.next() % 8 {
        case 0..<4:
            cut = []
            count("healed")
        case 4, 5:
            // Isolate one node, often the leader.
            guard let victim = chance(0.5) ? leader ?? pick(ids) : pick(ids) else { return }
            for other in ids where other != victim {
                cut.insert([victim, other])
                cut.insert([other, victim])
            }
            count("isolated")
        case 6:
            // Asymmetric: one direction of one link.
            guard let from = pick(ids), let to = pick(ids.filter { $0 != from }) else { return }
            cut.insert([from, to])
            count("one-way cut")
        default:
            // Split into two groups.
            let left = Set(ids.filter { _ in chance(0.5) })
            for a in ids { for b in ids where left.contains(a) != left.contains(b) { cut.insert([a, b]) } }
            count("split")
        }
    }

    private mutating func crash(_ id: NodeID, _ when: String) throws(SafetyChecker.Violation) {
        count("crash \(when)")
        restart(id)
    }

    /// Crashes a node, or restarts one that is down; at most two are down at once, so a
    /// majority of five can usually make progress.
    private mutating func crashAndRestart() throws(SafetyChecker.Violation) {
        let down = nodes.keys.sorted().filter { !nodes[$0]!.isUp }
        if let id = pick(down), down.count >= 2 || chance(0.5) {
            restart(id)
        } else if let id = pick(upNodes) {
            nodes[id]!.isUp = false
            count("crash")
        }
    }

    /// Brings a node back from its durable storage alone, as a process restart would.
    private mutating func restart(_ id: NodeID) {
        let durable = nodes[id]!.durable
        let applied = (try? durable.snapshot().metadata.index) ?? 0
        nodes[id] = SimNode(raft: RaftNode(config: config(id, applied: applied), storage: durable), durable: durable)
        count("restart")
    }

    private mutating func changeMembership() {
        guard let leaderID = leader else { return }
        let conf = nodes[leaderID]!.raft.confState
        let members = Set(conf.voters + conf.learners)
        let outsiders = nodes.keys.sorted().filter { !members.contains($0) }
        var change: ConfChange?
        switch random.next() % 3 {
        case 0: if let id = pick(outsiders) { change = ConfChange(.addLearner, nodeID: id) }
        case 1: if let id = pick(conf.learners) { change = ConfChange(.addVoter, nodeID: id) }
        default:
            if conf.voters.count > 3, let id = pick(conf.voters) { change = ConfChange(.remove, nodeID: id) }
            else if let id = pick(conf.learners) { change = ConfChange(.remove, nodeID: id) }
        }
        guard let change, (try? nodes[leaderID]!.raft.proposeConfChange(change)) != nil else { return }
        count("membership change")
    }

    private mutating func snapshot() throws(SafetyChecker.Violation) {
        guard let id = pick(upNodes) else { return }
        var node = nodes[id]!
        let applied = node.raft.appliedIndex
        let keep: UInt64 = 5
        guard applied > keep, (try? node.raft.storage.snapshot().metadata.index) ?? 0 < applied - keep else { return }
        let data = Array("applied through \(applied)".utf8)
        guard (try? node.raft.storage.createSnapshot(at: applied, confState: node.raft.confState, data: data)) != nil else { return }
        try? node.raft.storage.compact(through: applied - keep)
        // Snapshots are written atomically and survive crashes.
        _ = try? node.durable.createSnapshot(at: applied, confState: node.raft.confState, data: data)
        try? node.durable.compact(through: applied - keep)
        nodes[id] = node
        count("snapshot")
    }

    /// Heals the network, restarts every node and runs fault-free until the cluster agrees, then
    /// checks that every acknowledged entry is committed on the leader at its index.
    mutating func settle() throws(SafetyChecker.Violation) {
        cut = []
        for id in nodes.keys.sorted() where !nodes[id]!.isUp { restart(id) }
        for round in 0..<3000 {
            step += 1
            if round % 3 == 0 { for id in upNodes { tick(id) } }
            for id in upNodes { try handleReady(id, crashChance: 0) }
            let due = network.filter { $0.deliverAt <= step }
            network.removeAll { $0.deliverAt <= step }
            for inFlight in due where nodes[inFlight.message.to] != nil {
                nodes[inFlight.message.to]!.raft.step(inFlight.message)
                try check(inFlight.message.to)
            }
            if round > 200, let leaderID = leader, network.isEmpty,
                upNodes.allSatisfy({ nodes[$0]!.raft.commitIndex == nodes[leaderID]!.raft.commitIndex || !isMember($0, of: leaderID) })
            {
                break
            }
        }
        guard let leaderID = leader else {
            throw SafetyChecker.Violation(description: "no leader after healing the network and restarting every node")
        }
        let raft = nodes[leaderID]!.raft
        // Liveness once the faults stop: every member catches up with the leader.
        for id in upNodes where isMember(id, of: leaderID) && nodes[id]!.raft.commitIndex != raft.commitIndex {
            throw SafetyChecker.Violation(description:
                "member \(id) is stuck at commit \(nodes[id]!.raft.commitIndex) while leader \(leaderID) is at \(raft.commitIndex)")
        }
        let snapshotIndex = (try? raft.storage.snapshot().metadata.index) ?? 0
        for (text, position) in acknowledged where position.index > snapshotIndex {
            guard raft.term(at: position.index) == position.term, position.index <= raft.commitIndex else {
                throw SafetyChecker.Violation(description:
                    "acknowledged entry \(text) at index \(position.index) term \(position.term) is not committed on leader \(leaderID)")
            }
        }
    }

    private func isMember(_ id: NodeID, of leaderID: NodeID) -> Bool {
        let conf = nodes[leaderID]!.raft.confState
        return conf.voters.contains(id) || conf.learners.contains(id)
    }
}

extension Simulator: ReadyHandler {
    mutating func crashes(_ node: NodeID, at point: ReadyPoint) throws(SafetyChecker.Violation) -> Bool {
        guard chance(crashChance) else { return false }
        try crash(node, "\(point)")
        return true
    }

    mutating func willPersist(_ ready: Ready, on raft: RaftNode<MemoryStorage>) throws(SafetyChecker.Violation) {
        let previousTerm = ready.entries.first.flatMap { raft.term(at: $0.index - 1) } ?? 0
        try checker.checkAppended(ready.entries, previousTerm: previousTerm, node: raft.id)
    }

    mutating func didPersist(_ ready: Ready, on raft: RaftNode<MemoryStorage>) throws(SafetyChecker.Violation) {
        nodes[raft.id]!.durable = raft.storage
    }

    mutating func willApply(_ ready: Ready, on raft: RaftNode<MemoryStorage>) throws(SafetyChecker.Violation) {
        try checker.checkCommitted(
            through: ready.committedEntries.last?.index ?? 0, from: ready.committedEntries.first?.index ?? 1, node: raft.id,
            log: { raft.term(at: $0) })
    }

    mutating func apply(_ entry: Entry, on raft: inout RaftNode<MemoryStorage>) throws(SafetyChecker.Violation) {
        try checker.checkApplied(entry, node: raft.id)
        switch entry.kind {
        case .confChange:
            // A member added behind a compacted log needs a snapshot that names it.
            guard let change = ConfChange(encoded: entry.data), change.kind != .remove, raft.storage.firstIndex() > 1 else { return }
            let data = Array("applied through \(entry.index)".utf8)
            if (try? raft.storage.createSnapshot(at: entry.index, confState: raft.confState, data: data)) != nil {
                _ = try? nodes[raft.id]!.durable.createSnapshot(at: entry.index, confState: raft.confState, data: data)
                count("snapshot for a new member")
            }
        case .normal:
            let text = String(decoding: entry.data, as: UTF8.self)
            if proposedBy[text] == raft.id, raft.role == .leader {
                acknowledged[text] = (entry.index, entry.term)
                count("acknowledged")
            }
        }
    }
}
