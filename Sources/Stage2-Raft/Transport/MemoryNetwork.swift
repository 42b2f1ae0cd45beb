import NIOCore
import SingleNode
import Synchronization

/// A network inside one process: members started with `network: net.maker` reach each other
/// by their peer URLs as over TCP, but every frame is handed over in memory (through the
/// codec, so what moves is what the wire carries). With one `NIOAsyncTestingEventLoop` for
/// every member, a whole cluster runs on one manual clock: nothing timed happens until the
/// test advances it, and with seeded election timeouts (`electionSeed`) the same steps elect
/// the same leaders at the same moments.
///
/// A cut between two members (`cut`, `isolate`) ends their connections and refuses new ones
/// until `heal`, as a partition looks to a member: sends fail, questions fail, nothing arrives.
///
/// Where it is kinder than TCP: a connection is made at once, so the first frames sent to a
/// peer are not dropped while it is being made, and a refused peer is asked again at every
/// send rather than after a backoff. Tests that depend on either belong on sockets.
public final class MemoryNetwork: Sendable {
    private let loop: any EventLoop
    private let state = Mutex(State())

    private struct State {
        // Members listening, by "host:port".
        var listeners: [String: MemoryPeerTransport] = [:]
        // Pairs of addresses that cannot reach each other, each pair sorted.
        var cuts: Set<[String]> = []
        var links: [ObjectIdentifier: MemoryLink] = [:]
    }

    /// `loop` completes the connections' close futures.
    public init(loop: any EventLoop) { self.loop = loop }

    /// What `RaftServer.start` takes to put a member on this network.
    public var maker: PeerNetworkMaker { { [self] receiver in MemoryPeerTransport(network: self, receiver: receiver) } }

    /// Members at `a` and `b` (peer URLs) can no longer reach each other; their connections end.
    public func cut(_ a: String, _ b: String) {
        guard let a = Self.address(a), let b = Self.address(b) else { return }
        state.withLock { _ = $0.cuts.insert([a, b].sorted()) }
        closeLinks { Set([$0.dialerAddress, $0.acceptorAddress]) == Set([a, b]) }
    }

    /// The member at `url` can reach none of `others`.
    public func isolate(_ url: String, from others: [String]) {
        for other in others where other != url { cut(url, other) }
    }

    /// Every cut is mended (connections are made again by the next send).
    public func heal() { state.withLock { $0.cuts = [] } }

    static func address(_ url: String) -> String? { PeerAddress.hostPort(url).map { "\($0.host):\($0.port)" } }

    func register(_ transport: MemoryPeerTransport, at address: String) throws {
        try state.withLock { state in
            if state.listeners[address] != nil { throw ListenError(description: "\(address) is already in use on this memory network") }
            state.listeners[address] = transport
        }
    }

    func unregister(_ transport: MemoryPeerTransport) {
        state.withLock { state in state.listeners = state.listeners.filter { $0.value !== transport } }
        closeLinks { $0.dialer === transport || $0.acceptor === transport }
    }

    /// Opens a connection from `dialer` to whoever listens at `url`, if it can be reached.
    func connect(from dialer: MemoryPeerTransport, to url: String) throws -> MemoryLink {
        // A stopped member's last Ready must not reach anyone.
        guard !dialer.isClosed else { throw MemoryNetworkError(description: "this member's network is closed") }
        guard let address = Self.address(url) else { throw MemoryNetworkError(description: "not a peer address: \(url)") }
        let link = try state.withLock { state -> MemoryLink in
            guard let acceptor = state.listeners[address] else { throw MemoryNetworkError(description: "connection refused: nothing listens at \(address)") }
            let from = dialer.address ?? ""
            guard !state.cuts.contains([from, address].sorted()) else { throw MemoryNetworkError(description: "\(from) cannot reach \(address): cut") }
            let link = MemoryLink(dialer: dialer, acceptor: acceptor, dialerAddress: from, acceptorAddress: address, closed: loop.makePromise())
            state.links[ObjectIdentifier(link)] = link
            return link
        }
        // What the real transport's preamble checks: members of different clusters never talk.
        let (local, remote) = (dialer.clusterID, link.acceptor.clusterID)
        if local != 0 && remote != 0 && local != remote {
            link.close()
            let refusal = ClusterIdentity.mismatch(local: remote, remote: local)
            dialer.receiver(.refused(refusal), MemoryConnection(link: link, isDialer: true))
            throw MemoryNetworkError(description: refusal)
        }
        link.closed.futureResult.whenComplete { [weak self] _ in _ = self?.state.withLock { $0.links.removeValue(forKey: ObjectIdentifier(link)) } }
        return link
    }

    private func closeLinks(where matches: (MemoryLink) -> Bool) {
        let closing = state.withLock { $0.links.values.filter(matches) }
        for link in closing { link.close() }
    }
}

struct MemoryNetworkError: Error, CustomStringConvertible {
    var description: String
}

/// One member's end of a `MemoryNetwork`: a `PeerNetwork` like `PeerTransport`, one persistent
/// connection per peer URL, and connections of their own for `dial`.
final class MemoryPeerTransport: PeerNetwork {
    private let network: MemoryNetwork
    let receiver: PeerReceiver
    private let state = Mutex<(clusterID: UInt64, address: String?, links: [String: MemoryLink], isClosed: Bool)>((0, nil, [:], false))

    init(network: MemoryNetwork, receiver: @escaping PeerReceiver) {
        self.network = network
        self.receiver = receiver
    }

    var clusterID: UInt64 {
        get { state.withLock { $0.clusterID } }
        set { state.withLock { $0.clusterID = newValue } }
    }

    /// The address it listens on first: who it is, for cuts.
    var address: String? { state.withLock { $0.address } }

    /// Closed: it neither sends nor dials any more.
    var isClosed: Bool { state.withLock { $0.isClosed } }

    func listen(host: String, port: Int, plaintext: Bool) async throws -> Int {
        let address = "\(host):\(port)"
        try network.register(self, at: address)
        state.withLock { if $0.address == nil { $0.address = address } }
        return port
    }

    func send(_ frames: [PeerFrame], to url: String) -> Bool {
        guard !frames.isEmpty else { return true }
        guard let link = persistentLink(to: url) else { return false }
        for frame in frames where !link.carry(frame, fromDialer: true) { return false }
        return true
    }

    func isConnected(to url: String) -> Bool { state.withLock { $0.links[url]?.isOpen ?? false } }

    func prepareConnection(to url: String) { _ = persistentLink(to: url) }

    func dial(_ url: String, connectTimeout: TimeAmount) async throws -> any PeerConnection {
        MemoryConnection(link: try network.connect(from: self, to: url), isDialer: true)
    }

    func close() async {
        state.withLock { $0.isClosed = true }
        network.unregister(self)
    }

    /// The connection to `url`, made now if there is none and it can be.
    private func persistentLink(to url: String) -> MemoryLink? {
        if let link = state.withLock({ $0.links[url] }), link.isOpen { return link }
        guard let link = try? network.connect(from: self, to: url) else { return nil }
        state.withLock { $0.links[url] = link }
        return link
    }
}

/// A connection between two members of a `MemoryNetwork`, both of its ends.
final class MemoryLink: Sendable {
    let dialer: MemoryPeerTransport
    let acceptor: MemoryPeerTransport
    let dialerAddress: String
    let acceptorAddress: String
    let closed: EventLoopPromise<Void>
    private let open = Atomic(true)
    // Objects only for their identities: each end's connection ID.
    let dialerEnd = Identity()
    let acceptorEnd = Identity()
    final class Identity: Sendable {}

    init(
        dialer: MemoryPeerTransport, acceptor: MemoryPeerTransport, dialerAddress: String, acceptorAddress: String,
        closed: EventLoopPromise<Void>
    ) {
        (self.dialer, self.acceptor, self.dialerAddress, self.acceptorAddress, self.closed) = (dialer, acceptor, dialerAddress, acceptorAddress, closed)
    }

    var isOpen: Bool { open.load(ordering: .acquiring) }

    /// Hands `frame` to the other end, encoded and decoded as the wire would carry it; false if
    /// the link has closed.
    func carry(_ frame: PeerFrame, fromDialer: Bool) -> Bool {
        guard isOpen else { return false }
        let bytes = frame.encoded()
        // Larger than a peer reads: the reading end hangs up, as PeerFrameDecoder does.
        guard bytes.count - 4 <= PeerFrame.maxFrameBytes else {
            close()
            return false
        }
        // As the receiving end of a socket reads it: the length prefix, then the body.
        guard let copy = PeerFrame.decode(bytes.dropFirst(4)) else {
            assertionFailure("the codec cannot read back a frame it wrote: \(frame)")
            return false
        }
        if fromDialer {
            acceptor.receiver(copy, MemoryConnection(link: self, isDialer: false))
        } else {
            dialer.receiver(copy, MemoryConnection(link: self, isDialer: true))
        }
        return true
    }

    func close() {
        if open.exchange(false, ordering: .acquiringAndReleasing) { closed.succeed() }
    }
}

/// One end of a `MemoryLink`, as the member at that end sees it.
struct MemoryConnection: PeerConnection {
    let link: MemoryLink
    let isDialer: Bool

    var id: ObjectIdentifier { ObjectIdentifier(isDialer ? link.dialerEnd : link.acceptorEnd) }
    var closed: EventLoopFuture<Void> { link.closed.futureResult }
    func write(_ frame: PeerFrame) async throws {
        guard link.carry(frame, fromDialer: isDialer) else { throw MemoryNetworkError(description: "the connection is closed") }
    }
    func reply(_ frame: PeerFrame) { _ = link.carry(frame, fromDialer: isDialer) }
    func close() { link.close() }
}
