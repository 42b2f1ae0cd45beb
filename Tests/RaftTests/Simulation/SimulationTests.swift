#if canImport(Glibc)
import Glibc
#endif
import Testing
import RaftCore
import RaftTestKit

/// Serialized: every seed is pure CPU that never yields, and run side by side they took every
/// thread of the test process's pool for seconds, so tests with real sockets and deadlines
/// starved beside them (a TLS peer that could not deliver one frame in 20 s). One at a time,
/// the simulation keeps one thread and leaves the rest to the others.
@Suite("Simulation: safety under drops, reordering, partitions, crashes, membership changes and snapshots", .serialized, .timeLimit(.minutes(3)))
struct SimulationTests {
    /// 64 seeds x 16,000 steps = 1,024,000 simulated steps per run. For a longer soak set
    /// SIMULATION_SEEDS and SIMULATION_STEPS (see Scripts/soak.sh).
    static let seeds: [UInt64] = Array(1...UInt64(environment("SIMULATION_SEEDS") ?? 64))
    static let stepsPerSeed = environment("SIMULATION_STEPS") ?? 16_000

    static func environment(_ name: String) -> Int? { getenv(name).flatMap { Int(String(cString: $0)) } }

    /// A quarter of the seeds run three nodes, a quarter five voters, and half five nodes that
    /// start with three voters and change membership as they go.
    static func options(for seed: UInt64) -> Simulator.Options {
        var options = Simulator.Options()
        switch seed % 4 {
        case 0: options.nodeCount = 3; options.initialVoters = 3
        case 1: options.nodeCount = 5; options.initialVoters = 5
        default: options.nodeCount = 5; options.initialVoters = 3
        }
        return options
    }

    @Test("Every safety property holds after every step", arguments: seeds)
    func safety(seed: UInt64) {
        var simulator = Simulator(seed: seed, options: Self.options(for: seed))
        do {
            try simulator.run(steps: Self.stepsPerSeed)
        } catch {
            Issue.record("seed \(seed), step \(simulator.step): \(error) — replay with Simulator(seed: \(seed))")
        }
        #expect(simulator.statistics["acknowledged", default: 0] > 0, "seed \(seed) made no progress: \(simulator.statistics)")
    }

    @Test("The same seed replays the same run exactly")
    func determinism() throws {
        var first = Simulator(seed: 7)
        var second = Simulator(seed: 7)
        try first.run(steps: 3000)
        try second.run(steps: 3000)
        #expect(first.statistics == second.statistics)
        #expect(first.acknowledged.mapValues(\.index) == second.acknowledged.mapValues(\.index))
    }

    @Test("Mutation check: the simulator catches a node that votes twice in a term")
    func catchesDoubleVoting() {
        var options = Simulator.Options()
        options.faultInjection = .voteTwiceInATerm
        let caught = (1...40 as ClosedRange<UInt64>).contains { seed in
            var simulator = Simulator(seed: seed, options: options)
            do { try simulator.run(steps: 8000) } catch { return "\(error)".contains("Election Safety") }
            return false
        }
        #expect(caught, "no seed exposed two leaders in one term")
    }

    /// Figure 8 of the Raft paper on three nodes, step by step. Returns what the safety checker
    /// says about every entry every node applied.
    static func figure8History(fault: FaultInjection?) -> SafetyChecker.Violation? {
        var cluster = MemoryCluster(size: 3, preVote: false, checkQuorum: false) { config in
            config.maxSizePerMessage = 1  // one entry per append, so entries arrive one by one
            config.faultInjection = fault
        }
        cluster.elect(1)
        // (a) S1 leads term 1 and appends "a" at index 2, which reaches nobody.
        cluster.isolate(1)
        try? cluster.propose(1, "a")
        cluster.stabilize()
        // (b) S2 wins term 2 with S3's vote; its own entry at index 2 reaches nobody.
        cluster.heal()
        cluster.isolate(1)
        cluster.nodes[2]!.campaign()
        for message in cluster.take(.vote) { cluster.nodes[message.to]!.step(message) }
        for message in cluster.take(.voteResponse) { cluster.nodes[message.to]!.step(message) }
        cluster.handleReady(2)
        cluster.inFlight = []
        // (c) S1 hears of term 2, then wins term 3 with S3's vote, and replicates index 2
        // (term 1) to S3 but goes down before its own term-3 entry gets there.
        cluster.heal()
        cluster.isolate(2)
        cluster.nodes[1]!.step(Message(kind: .appendResponse, to: 1, from: 3, term: 2))
        cluster.nodes[1]!.campaign()
        for message in cluster.take(.vote) { cluster.nodes[message.to]!.step(message) }
        for message in cluster.take(.voteResponse) { cluster.nodes[message.to]!.step(message) }
        for _ in 0..<6 where cluster.node(3).term(at: 2) != 1 {
            for message in cluster.take(.append) where message.to == 3 && cluster.node(3).term(at: 2) != 1 {
                cluster.nodes[3]!.step(message)
            }
            for message in cluster.take(.appendResponse) { cluster.nodes[1]!.step(message) }
        }
        cluster.handleReady(1)
        cluster.inFlight = []
        // (d) S2 hears of term 3, wins term 4 with S3's vote (its last term, 2, beats S3's 1)
        // and makes S3 replace index 2.
        cluster.heal()
        cluster.isolate(1)
        cluster.nodes[2]!.step(Message(kind: .appendResponse, to: 2, from: 3, term: 3))
        cluster.nodes[2]!.campaign()
        cluster.stabilize()
        try? cluster.propose(2, "b")
        cluster.stabilize()

        var checker = SafetyChecker()
        for id in cluster.ids {
            for entry in cluster.appliedEntries[id] ?? [] {
                do { try checker.checkApplied(entry, node: id) } catch { return error }
            }
        }
        return nil
    }

    @Test("Mutation check: committing an earlier term's entry by counting loses a committed entry (Figure 8)")
    func catchesFigure8() {
        let broken = Self.figure8History(fault: .commitPreviousTermByCounting)
        #expect(broken?.description.contains("State Machine Safety") == true, "the checker must catch the broken rule: \(String(describing: broken))")
        #expect(Self.figure8History(fault: nil) == nil, "the correct rule keeps the same history safe")
    }
}

