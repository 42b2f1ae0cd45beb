import NIOCore

/// What the server needs of a network between members, and nothing more: listen, send frames
/// to a peer's URL, open a connection of its own for a question or a snapshot stream, close.
/// `PeerTransport` is the real one (TCP, optionally TLS); `MemoryNetwork` moves the same frames
/// between members in one process, so cluster tests run on a manual clock without sockets.
///
/// Every frame a network receives goes to the `PeerReceiver` it was made with, together with
/// the connection it came on: answers go back on that connection.
public protocol PeerNetwork: AnyObject, Sendable {
    /// The cluster this member belongs to (0 until known), sent to and checked against peers.
    var clusterID: UInt64 { get set }
    /// Accepts peers on `host:port`; returns the port bound. `plaintext`: without the security.
    func listen(host: String, port: Int, plaintext: Bool) async throws -> Int
    /// Sends frames to the peer at `url`, in order. False if there is no connection now (one
    /// is being made): the frames are dropped, as a lossy network may drop them.
    @discardableResult func send(_ frames: [PeerFrame], to url: String) -> Bool
    /// Whether the connection to `url` is up now.
    func isConnected(to url: String) -> Bool
    /// Opens the connection to `url` now if there is none, so the next send finds it.
    func prepareConnection(to url: String)
    /// Opens a connection of its own to `url` (a join, a question, a snapshot stream).
    func dial(_ url: String, connectTimeout: TimeAmount) async throws -> any PeerConnection
    /// Closes the listeners and every connection.
    func close() async
}

/// Where a network hands each frame it receives, with the connection to answer on. Called on
/// whatever thread the network runs; the server hops to its loop.
public typealias PeerReceiver = @Sendable (PeerFrame, any PeerConnection) -> Void

/// Makes the network for a member, given where its frames go.
public typealias PeerNetworkMaker = @Sendable (_ receiver: @escaping PeerReceiver) -> any PeerNetwork

/// One connection to or from a peer, as the server sees it.
public protocol PeerConnection: Sendable {
    /// The same for every frame on one connection: answers are matched to questions by it.
    var id: ObjectIdentifier { get }
    /// Completes when the connection ends, from either side.
    var closed: EventLoopFuture<Void> { get }
    /// Writes `frame` and returns once it is written (a stream's pace).
    func write(_ frame: PeerFrame) async throws
    /// Writes `frame` without waiting (an answer).
    func reply(_ frame: PeerFrame)
    /// Hangs up.
    func close()
}

/// A TCP (or TLS) connection as a `PeerConnection`.
struct ChannelPeerConnection: PeerConnection {
    let channel: any Channel

    var id: ObjectIdentifier { ObjectIdentifier(channel) }
    var closed: EventLoopFuture<Void> { channel.closeFuture }
    func write(_ frame: PeerFrame) async throws { try await channel.writeAndFlush(ByteBuffer(bytes: frame.encoded())) }
    func reply(_ frame: PeerFrame) { channel.writeAndFlush(ByteBuffer(bytes: frame.encoded()), promise: nil) }
    func close() { channel.close(promise: nil) }
}
