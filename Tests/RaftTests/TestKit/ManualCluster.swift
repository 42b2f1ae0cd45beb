#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOEmbedded
import SingleNode
import Synchronization

@testable import Raft

/// Real `RaftServer`s (disk, core, loop, snapshots, membership) on one manual clock and a
/// `MemoryNetwork`: no sockets, no sleeps, no polling of real time. What is due now runs at
/// once (a message, a reply, an apply); nothing timed (a tick, an election, a timeout) happens
/// until the test moves the clock (`advance`), so a test reads as a timeline: "ten ticks
/// later, one of the others leads". Election timeouts are seeded, so the same steps elect the
/// same leader at the same moment (request numbers are random, but only match answers).
///
/// Members are named; each listens at `http://<name>:2380` on the memory network, keeps its
/// data under one temporary directory, and ticks every 100 ms of the manual clock.
final class ManualCluster: @unchecked Sendable {
    let loop = NIOAsyncTestingEventLoop()
    let network: MemoryNetwork
    let directory = TemporaryDirectory()
    let founders: [String]
    let heartbeat = TimeAmount.milliseconds(100)
    /// The wall clock every member dates its v1 writes by and expires TTLs by: it moves only
    /// when a test moves it (`wallClock.advance`), apart from the loop's clock.
    let wallClock = ManualWallClock()
    private(set) var servers: [String: RaftServer] = [:]

    /// A cluster whose founders are `founders` (started with `start`).
    init(founders: [String]) {
        self.founders = founders
        self.network = MemoryNetwork(loop: loop)
    }

    static func member(_ name: String) -> Member {
        Member(name: name, peerURL: "http://\(name):2380", clientURL: "http://\(name):2379")
    }

    func url(_ name: String) -> String { Self.member(name).peerURL }

    /// Starts `name`: a founder with the others of `founders`, or (with `join`) a member
    /// joining through those peer URLs. Its data is in the directory `dataName` (its name).
    func start(
        _ name: String, join: [String] = [], snapshotCount: UInt64 = 10_000, requestTimeout: TimeAmount = .seconds(2),
        stateMachine: (any ReplicatedStateMachine)? = nil, dataName: String? = nil, strictReconfigCheck: Bool = true
    ) async throws {
        let dataDirectory = directory.path + "/" + (dataName ?? name)
        var configuration = RaftServerConfiguration(member: Self.member(name), dataDirectory: dataDirectory, peerListenPort: 2380)
        configuration.peerListenHost = name
        configuration.join = join
        configuration.initialCluster = join.isEmpty ? founders.map(Self.member) : []
        configuration.heartbeatInterval = heartbeat
        configuration.electionTicks = 10
        // Fixed per member (the core mixes in its ID): the same steps give the same elections.
        configuration.electionSeed = 7
        configuration.healthInterval = heartbeat * 5
        configuration.snapshotCount = snapshotCount
        configuration.snapshotKeepEntries = 5
        configuration.snapshotChunkSize = 1024
        configuration.requestTimeout = requestTimeout
        configuration.stateMachine = stateMachine
        configuration.strictReconfigCheck = strictReconfigCheck
        servers[name] = try await RaftServer.start(
            configuration, clock: wallClock, loop: loop, network: network.maker,
            logger: Logger(label: name) { label in
                getenv("CLUSTER_TEST_LOG") == nil ? SwiftLogNoOpLogHandler() as any LogHandler : StreamLogHandler.standardError(label: label)
            })
    }

    func startAll(requestTimeout: TimeAmount = .seconds(2)) async throws {
        for name in founders { try await start(name, requestTimeout: requestTimeout) }
    }

    /// Starts every founder and moves the clock until they agree on a leader; returns its name.
    @discardableResult
    func startedWithLeader(requestTimeout: TimeAmount = .seconds(2)) async throws -> String {
        try await startAll(requestTimeout: requestTimeout)
        return try await electLeader()
    }

    /// Moves the clock until the running members agree on a leader; returns its name.
    @discardableResult
    func electLeader(_ what: String = "a leader", within limit: TimeAmount = .seconds(30)) async throws -> String {
        try await advance(until: what, within: limit) { self.leader != nil }
        guard let leader else { throw ClusterTestTimeout(what: what) }
        return leader
    }

    func stop(_ name: String) async {
        await servers.removeValue(forKey: name)?.stop()
    }

    func stopAll() async {
        for name in Array(servers.keys) { await stop(name) }
    }

    /// A running member; a test that asks for one it stopped (or never started) stops here, named.
    subscript(_ name: String) -> RaftServer {
        guard let server = servers[name] else { fatalError("no running member \(name) in this cluster") }
        return server
    }

    /// Runs what is due now, without moving the clock, and waits for the work the members
    /// do off their loop (a snapshot being encoded or streamed): such work takes none of the
    /// clock's time, so a loaded machine cannot make a timeout fire before it is done. (Not
    /// awaited: a state received apart being written to its file, and answers to questions for
    /// one member; no test here has either. A stream never waits on the clock: memory writes
    /// do not block.)
    func settle() async {
        await loop.run()
        for _ in 0..<1_000 {
            var work: [Task<Void, Never>] = []
            for server in servers.values {
                // A snapshot being encoded, snapshots streaming to followers.
                work += (try? await server.loop.submit { server.snapshots.underway() }.get()) ?? []
            }
            guard !work.isEmpty else { return }
            for task in work { await task.value }
            await loop.run()
        }
    }

    /// Moves the clock a tick at a time until `condition` holds; fails after `limit` of manual
    /// time. Returns how long it took.
    @discardableResult
    func advance(until what: String, within limit: TimeAmount = .seconds(30), _ condition: () -> Bool) async throws -> TimeAmount {
        let start = loop.now
        await settle()
        while !condition() {
            guard loop.now - start < limit else { throw ClusterTestTimeout(what: "\(what) (\(limit.nanoseconds / 1_000_000) ms of the manual clock)") }
            await loop.advanceTime(by: heartbeat)
            await settle()
        }
        return loop.now - start
    }

    /// Moves the clock by `amount`, a tick at a time.
    func advance(by amount: TimeAmount) async {
        let end = loop.now + amount
        await settle()
        while loop.now < end {
            await loop.advanceTime(to: min(loop.now + heartbeat, end))
            await settle()
        }
    }

    /// The member every running member agrees leads, if they agree.
    var leader: String? {
        let seen = Set(servers.values.map { $0.status.leader })
        guard seen.count == 1, let id = seen.first, id != 0 else { return nil }
        return servers.first { $0.value.id == id }?.key
    }

    /// A member that runs and is not `name`.
    func other(than names: String...) -> String { servers.keys.sorted().first { !names.contains($0) }! }

    /// Writes through `name`'s v1 backend, moving the clock until the answer comes.
    func write(_ name: String, _ kind: Command.Kind, within limit: TimeAmount = .seconds(10)) async throws -> WriteOutcome {
        let answer = ReplicatedBackend(server: self[name]).write(kind, issuedAt: wallClock.now(), on: loop)
        return try await outcome(of: answer, what: "a write on \(name)", within: limit)
    }

    /// Waits for `future`, moving the clock a tick at a time, for at most `limit` of it.
    func outcome<T: Sendable>(of future: EventLoopFuture<T>, what: String, within limit: TimeAmount = .seconds(10)) async throws -> T {
        // Told on the loop itself, so the clock stops on the tick the future completes (a task
        // awaiting it would learn of it later, on another thread).
        let isDone = Flag()
        future.whenComplete { _ in isDone.set() }
        try await advance(until: what, within: limit) { isDone.isSet }
        return try await future.get()
    }

    /// Runs `operation` while moving the clock a tick at a time until it ends, for at most
    /// `limit` of the clock: for what a member does that waits on the clock (a leadership
    /// transfer polls for the new leader).
    func result<T: Sendable>(of what: String, within limit: TimeAmount = .seconds(10), _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let isDone = Flag()
        let task = Task {
            defer { isDone.set() }
            return try await operation()
        }
        do {
            try await advance(until: what, within: limit) { isDone.isSet }
        } catch {
            task.cancel()
            throw error
        }
        return try await task.value
    }

    /// Runs `operation` with the clock stopped, and returns what it returned: for what a
    /// member does without waiting on the clock (a membership change, a question for a peer, a
    /// join), so that moving the clock meanwhile cannot fire its timeouts early. Bounded by 30 s
    /// of real time: an operation that waits on the clock never completes here, and says so.
    @discardableResult
    func during<T: Sendable>(_ what: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        // Not a task group: a group waits for all its children, and an operation waiting on
        // the stopped clock would never end. The first of the two to finish answers.
        let answer = Once<Result<T, any Error>>()
        return try await withCheckedThrowingContinuation { continuation in
            answer.onSet { continuation.resume(with: $0) }
            let bound = Task {
                try? await Task.sleep(for: .seconds(30))
                if !Task.isCancelled {
                    answer.set(.failure(ClusterTestTimeout(what: "\(what), with the clock stopped (does it wait on the clock? then move it)")))
                }
            }
            Task {
                do { answer.set(.success(try await operation())) } catch { answer.set(.failure(error)) }
                bound.cancel()
            }
        }
    }

    /// `name`'s value for a v1 key, as its store has it now.
    func value(_ name: String, _ key: String) -> String? {
        if case .success(.file(let response)) = servers[name]?.machine.read(key) { return response.value }
        return nil
    }
}

/// A value set once, from any thread; later sets are ignored. `onSet` (given once, first)
/// hears it.
final class Once<Value: Sendable>: Sendable {
    private let state = Mutex<(value: Value?, handler: (@Sendable (Value) -> Void)?)>((nil, nil))

    func onSet(_ handler: @escaping @Sendable (Value) -> Void) { state.withLock { $0.handler = handler } }

    func set(_ value: Value) {
        let handler = state.withLock { state -> (@Sendable (Value) -> Void)? in
            guard state.value == nil else { return nil }
            state.value = value
            return state.handler
        }
        handler?(value)
    }
}

/// A flag set once, from any thread.
final class Flag: Sendable {
    private let value = Atomic(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
