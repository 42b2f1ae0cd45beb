#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import RaftCore
import RaftDisk
import SingleNode

/// The shell around one Raft member: it owns the core, the disk storage, the peer transport
/// and Stage 1's store, and runs the loop the core asks for: tick on a timer, step what peers
/// send, propose what clients ask, and for every `Ready`: persist, send, apply, advance.
///
/// `@unchecked Sendable` is safe because every mutable property is touched only on `loop`
/// (each entry point hops there first, and `processReady` checks it): confinement to one event
/// loop replaces a lock, and keeps the Raft loop free of lock traffic.
public final class RaftServer: @unchecked Sendable {
    let loop: any EventLoop
    let configuration: RaftServerConfiguration
    let logger: Logger
    let clock: any WallClock
    var node: RaftNode<DiskStorage>
    let storage: DiskStorage
    /// The v1 store this member applies the log to.
    public let machine: StoreMachine
    var transport: (any PeerNetwork)!
    /// The bound peer port.
    public internal(set) var peerPort = 0

    // The collaborators, each a job of its own, confined to this loop as the server is. Set
    // once, at the end of `init` (they point back at the server).
    /// Who the members are; the membership API and the v1 join.
    private(set) var membership: MembershipService!
    /// What this member proposes, and the callers waiting to see it applied.
    private(set) var proposer: Proposer!
    /// The machines committed entries are applied to, by tag.
    private(set) var machines: StateMachines!
    /// Questions asked of peers outside Raft.
    private(set) var questions: PeerQuestions!
    /// Who leads: milestone lines, transfers, and publishing this member once there is a leader.
    private(set) var leadership: Leadership!
    /// Snapshots taken, restored, streamed and received.
    private(set) var snapshots: Snapshotter!
    /// The live view's recording and gathering, and the lab's cut.
    private(set) var view: LiveView!
    /// What peers send, to whoever handles it.
    private(set) var router: PeerRouter!
    /// Linearizable reads (and waits for an index) on this member. Made on first use, on the
    /// loop, since it asks the core.
    lazy var reads = LinearizableReads(
        loop: loop, timeout: configuration.requestTimeout,
        retryInterval: configuration.heartbeatInterval * Int64(max(configuration.electionTicks / 2, 1)),
        hasLeader: { [unowned self] in self.node.leader != 0 },
        askReadIndex: { [unowned self] context in
            self.node.readIndex(context: context)
            self.scheduleReady()
        })

    /// The members as this member last applied them.
    var members: [NodeID: Member] { membership.members }
    // The published cluster view needs rebuilding (members or the leader changed).
    var isViewStale = true
    var isReadyScheduled = false
    /// Where machines' states sent apart from snapshots go: beside the snapshots.
    var stateDirectory: String { Self.stateDirectory(of: configuration) }
    static func stateDirectory(of configuration: RaftServerConfiguration) -> String { configuration.dataDirectory + "/snap" }
    /// Yields when this member applies its own removal from the cluster (the daemon exits).
    public let removals: AsyncStream<Void>
    let removalContinuation: AsyncStream<Void>.Continuation
    var tickTask: RepeatedTask?
    var isStopping = false
    // The single-thread group `loop` belongs to; shut down by `stop()`.
    var raftThread: MultiThreadedEventLoopGroup?
    /// What other threads read of this member: the cluster view and the status.
    let published: PublishedState

    var id: NodeID { node.id }

    private init(
        configuration: RaftServerConfiguration, memberID: NodeID, loop: any EventLoop, storage: DiskStorage, clock: any WallClock,
        logger: Logger
    ) {
        self.configuration = configuration
        self.loop = loop
        self.storage = storage
        self.clock = clock
        self.logger = logger
        self.machine = StoreMachine(historyCapacity: configuration.historyCapacity, logger: logger)
        self.published = PublishedState(memberID: memberID)
        self.node = RaftNode(config: configuration.raftConfig(id: memberID, applied: storage.snapshotMetadata.index), storage: storage)
        (self.removals, self.removalContinuation) = AsyncStream.makeStream()
        membership = MembershipService(server: self)
        proposer = Proposer(server: self)
        leadership = Leadership(server: self)
        machines = StateMachines(server: self, v1: machine, other: configuration.stateMachine)
        questions = PeerQuestions(server: self, loop: loop)
        snapshots = Snapshotter(server: self, loop: loop, directory: Self.stateDirectory(of: configuration))
        view = LiveView(server: self)
        router = PeerRouter(server: self)
    }

    /// Opens the data directory and starts the member: a new cluster of one, a member joining
    /// through `configuration.join`, or (if the directory holds a log) the member it was before.
    ///
    /// The shell's surroundings are parameters: `loop` runs the member (by default a thread of
    /// its own), `network` reaches its peers (by default TCP, `PeerTransport`), `clock` dates
    /// its v1 writes. A test gives a `NIOAsyncTestingEventLoop` and a `MemoryNetwork`, and then
    /// time moves only when it says so.
    public static func start(
        _ configuration: RaftServerConfiguration, clock: any WallClock = SystemWallClock(),
        loop givenLoop: (any EventLoop)? = nil, network: PeerNetworkMaker? = nil, logger: Logger
    ) async throws -> RaftServer {
        let bootstrap = try MemberBootstrap.open(configuration, logger: logger)
        let (storage, memberID, clusterID, isJoining) = (bootstrap.storage, bootstrap.memberID, bootstrap.clusterID, bootstrap.isJoining)
        // The Raft loop gets a thread of its own: client connections (parsing, answering) run on
        // other threads, so they never delay a tick, a sync or a message to a follower. The peer
        // connections share the Raft thread: a message then reaches the core, and a reply the
        // socket, without waking another thread (6-15% more writes/s on a 3-machine cluster).
        // Frames are still handed over with `execute`, never stepped inside a channel callback:
        // a connection closing during a `Ready` must not step the core halfway through it.
        let raftThread = givenLoop == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let loop = givenLoop ?? raftThread!.next()
        let server = RaftServer(configuration: configuration, memberID: memberID, loop: loop, storage: storage, clock: clock, logger: logger)
        server.raftThread = raftThread
        if let snapshot = try? storage.snapshot() {
            do { try server.snapshots.restoreOrThrow(snapshot) } catch {
                try? await raftThread?.shutdownGracefully()
                throw error
            }
        }
        storage.releaseSnapshotData()
        SpooledState.removeLeftovers(in: server.stateDirectory)
        let receiver: PeerReceiver = { [weak server, loop] frame, connection in
            loop.execute { [weak server] in server?.router.receive(frame, on: connection) }
        }
        server.transport = network?(receiver)
            ?? PeerTransport(group: loop, logger: logger, security: configuration.peerSecurity, receive: receiver)
        server.setClusterID(clusterID)
        do { server.peerPort = try await PeerListeners.open(on: server.transport, configuration, logger: logger) } catch {
            // Not started after all: the listeners already open and the thread go with it.
            await server.transport.close()
            try? await raftThread?.shutdownGracefully()
            throw error
        }
        try await server.loop.submit {
            PeerListeners.warnIfServedPlaintext(recorded: server.members[server.id]?.peerURL, configuration, logger: logger)
            server.begin()
        }.get()
        if isJoining {
            do {
                try await server.membership.join(through: configuration.join)
            } catch {
                // Not started after all: its port and thread go with it.
                await server.stop()
                throw error
            }
        }
        return server
    }

    private func begin() {
        tickTask = loop.scheduleRepeatedTask(initialDelay: configuration.heartbeatInterval, delay: configuration.heartbeatInterval) {
            [weak self] _ in self?.tick()
        }
        if view.recorder != nil { view.note("started, log at \(node.lastIndex)") }
        processReady()
        // A cluster of one need not wait an election timeout.
        if node.confState.voters == [id] { node.campaign() }
        scheduleReady()
    }

    /// Stops ticking and disconnects; pending writes fail.
    public func stop() async {
        // A snapshot being encoded finishes (and is saved) first: it comes back to this loop.
        let (encoding, streams) = (try? await loop.submit { () -> (Task<Void, Never>?, [Task<Void, Never>]) in
            self.isStopping = true
            return self.snapshots.inFlight()
        }.get()) ?? (nil, [])
        if let encoding { await encoding.value }
        // Snapshot streams end now; each comes back to this loop once, before it shuts down.
        for stream in streams { stream.cancel() }
        for stream in streams { await stream.value }
        try? await loop.submit {
            self.tickTask?.cancel()
            self.proposer.failAll(.stopped)
            self.reads.failAll(ProposalError.stopped)
            self.questions.failAll()
            self.membership.failAll()
            self.removalContinuation.finish()
            self.leadership.publication.settle(false)
        }.get()
        await transport.close()
        try? await raftThread?.shutdownGracefully()
    }

    private func tick() {
        proposer.expireWaiting()
        reads.retryUnconfirmed()
        node.tick()
        if node.role == .leader { proposer.proposeExpirations() }
        leadership.publishIfNeeded()
        scheduleReady()
    }

    /// Runs one pass of the loop soon; calls made meanwhile share it, which is what batches
    /// many proposals into one sync and one message per follower.
    func scheduleReady() {
        guard !isReadyScheduled else { return }
        isReadyScheduled = true
        loop.execute { self.processReady() }
    }

    func processReady() {
        loop.preconditionInEventLoop()
        isReadyScheduled = false
        while node.hasReady {
            let ready = node.ready()
            // A leader with its term on disk sends first, so followers write in parallel with it.
            if ready.canSendBeforePersisting { send(ready.messages) }
            // 1. Persist, durably, before anything depends on it.
            do {
                try storage.persist(entries: ready.entries, hardState: ready.hardState, snapshot: ready.snapshot)
            } catch {
                logger.critical("cannot persist the Raft log: stopping, so that nothing unsaved is acknowledged", metadata: ["error": "\(error)"])
                exit(1)
            }
            // 2. Send (unless already sent).
            if !ready.canSendBeforePersisting { send(ready.messages) }
            // 3. Apply: a snapshot from the leader first, then the committed entries.
            if let snapshot = ready.snapshot { snapshots.restore(snapshot) }
            for entry in ready.committedEntries { apply(entry) }
            if !ready.readStates.isEmpty { reads.confirm(ready.readStates, applied: machine.appliedIndex) }
            if reads.hasWaiting { reads.complete(applied: machine.appliedIndex) }
            if snapshots.isDue(applied: machine.appliedIndex) { snapshots.takeInBackground(at: machine.appliedIndex) }
            // 4. Advance.
            node.advance(ready)
            if let soft = ready.softState {
                leadership.changed(leader: soft.leader, role: soft.role)
                isViewStale = true
            }
        }
        if isViewStale { publishView() }
        if view.recorder != nil { view.observeForView() }
        snapshots.afterReady()
        // The numbers every pass may move; who the members are is published with the view.
        published.record(
            term: node.term, leader: node.leader, applied: machine.appliedIndex, commit: node.commitIndex,
            pendingProposals: proposer.waitingCount)
    }

    /// Steps a Raft message from a peer into the core.
    func step(_ message: Message) {
        membership.heardFrom[message.from] = loop.now
        node.step(message)
        scheduleReady()
    }

    /// Publishes who the members are and who leads, for readers on other threads.
    func publishView() {
        isViewStale = false
        for member in members.values where member.id != id && !member.peerURL.isEmpty { transport.prepareConnection(to: member.peerURL) }
        published.publish(members: members, leader: node.leader, learners: Set(node.confState.learners))
    }

    /// Records the cluster this member belongs to, for peers and for v3 response headers.
    func setClusterID(_ clusterID: UInt64) {
        transport.clusterID = clusterID
        published.setClusterID(clusterID)
    }

    /// Waits `amount` of the loop's time (a test's manual clock moves it), for the few callers
    /// that retry off the loop. Throws if the task is cancelled or the loop shuts down, so that
    /// a retry loop ends with its member rather than spinning.
    func pause(_ amount: TimeAmount) async throws {
        try Task.checkCancellation()
        try await loop.scheduleTask(in: amount) {}.futureResult.get()
        try Task.checkCancellation()
    }

    /// Who this member is and what it last saw, for v3 response headers and status.
    public var status: RaftStatus { published.status }

    /// What every v3 response header carries, without copying the member list (per call).
    public var identity: (clusterID: UInt64, memberID: UInt64, term: UInt64) { published.identity }

    /// Whether this member is a learner now (checked for every v3 call).
    public var isLearner: Bool { published.isLearner }

    private func send(_ messages: [Message]) {
        var byPeer: [NodeID: [PeerFrame]] = [:]
        for message in messages {
            // The lab's cut (empty outside the lab, so one check per message on the hot path).
            let isCut = !view.cutOff.isEmpty && view.cutOff.contains(message.to)
            if view.recorder != nil { view.recordForView(message, dropped: isCut) }
            if isCut { continue }
            // Large ones, and those whose machine sends its state apart from the snapshot (Stage
            // 4's file), go on a stream of their own.
            if let snapshot = message.snapshot,
                snapshot.data.count > configuration.snapshotChunkSize || configuration.stateMachine?.sendsStateApart == true
            {
                snapshots.stream(message)
                continue
            }
            byPeer[message.to, default: []].append(.raft(message))
        }
        for (peer, frames) in byPeer {
            guard let url = members[peer]?.peerURL else { continue }
            if !transport.send(frames, to: url) { node.reportUnreachable(peer) }
        }
    }
}
