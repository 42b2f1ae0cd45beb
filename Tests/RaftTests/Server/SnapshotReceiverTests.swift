import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Raft
import RaftCore

/// What a follower makes of the frames `SnapshotSender` writes, without a network: the frames of
/// a real sender fed to a receiver on an event loop of its own, as the Raft loop would.
@Suite("Receiving a snapshot, frame by frame", .timeLimit(.minutes(3)))
struct SnapshotReceiverTests {
    static let state = (0..<95).map { UInt8($0) }

    /// The frames of `SnapshotSenderTests.message`, its state sent apart if `stateApart`.
    func frames(stateApart: Bool, in directory: TemporaryDirectory) async throws -> [PeerFrame] {
        var copy: (@Sendable (String) throws -> [UInt8])?
        if stateApart {
            copy = { path in
                try Data(Self.state).write(to: URL(fileURLWithPath: path))
                return Array("note: index 40".utf8)
            }
        }
        let sender = SnapshotSender(chunkSize: 10, copyState: copy, spoolPath: directory.path + "/state.sending-1")
        var frames: [PeerFrame] = []
        try await sender.send(SnapshotSenderTests.message) { frames.append($0) }
        return frames
    }

    /// What a receiver did with `frames` on one connection (closed before frame `closeAfter`,
    /// if given, the frames after it then fed as if they had come on it still): what `finish`
    /// said, and what it handed on, if anything.
    struct Outcome {
        let wasSnapshot: Bool?
        let receiver: SnapshotReceiver
        /// Completes with what was handed on; fails if nothing was within the wait.
        let delivered: EventLoopFuture<(Message, [UInt8])>
        /// Whether anything was handed on by the time `finish` and the loop's turn after it ended.
        let deliveredAtOnce: Bool
    }

    struct NothingHandedOn: Error {}

    func receive(
        _ frames: [PeerFrame], directory: TemporaryDirectory, drop: Bool = false, closeAfter: Int? = nil,
        waitingAtMost wait: TimeAmount = .seconds(10), _ check: (Outcome) async throws -> Void
    ) async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let receiver = SnapshotReceiver(loop: loop, directory: directory.path, logger: Logger(label: "test"))
        let closed = loop.makePromise(of: Void.self)
        defer { closed.succeed() }  // the connection ends with the test, if not before
        let connection = SnapshotReceiver.Connection(id: ObjectIdentifier(receiver), closed: closed.futureResult)
        let delivered = loop.makePromise(of: (Message, [UInt8]).self)
        let wasDelivered = Mutex(false)
        let wasSnapshot = Mutex<Bool?>(nil)
        for (n, frame) in frames.enumerated() {
            if n == closeAfter {
                // The connection ends, and the loop hears of it on its next turn.
                try await loop.submit { closed.succeed() }.get()
                try await loop.submit {}.get()
            }
            try await loop.submit {
                switch frame {
                case .snapshotChunk(let bytes): receiver.snapshotPiece(bytes, on: connection)
                case .stateChunk(let bytes): receiver.statePiece(bytes, on: connection)
                case .snapshotDone(let message):
                    let said = receiver.finish(message, on: connection, drop: drop) { message, data in
                        wasDelivered.withLock { $0 = true }
                        delivered.succeed((message, data))
                    }
                    wasSnapshot.withLock { $0 = said }
                default: Issue.record("unexpected \(frame)")
                }
            }.get()
        }
        try await loop.submit {}.get()  // a turn of the loop: the connection's close has been heard
        let atOnce = wasDelivered.withLock { $0 }
        let timer = loop.scheduleTask(in: wait) { delivered.fail(NothingHandedOn()) }
        delivered.futureResult.whenComplete { _ in timer.cancel() }
        try await check(Outcome(wasSnapshot: wasSnapshot.withLock { $0 }, receiver: receiver, delivered: delivered.futureResult, deliveredAtOnce: atOnce))
    }

    /// Files received into `directory`, once there are `count` of them (files are made and
    /// removed on a queue of their own), or after 5 s.
    func receivedFiles(in directory: TemporaryDirectory, waitingFor count: Int) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            let found = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("state.received-") }
            if found.count == count || ContinuousClock.now > deadline { return found }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Whether `outcome` hands nothing on within its wait.
    func handsNothingOn(_ outcome: Outcome) async -> Bool {
        do {
            _ = try await outcome.delivered.get()
            return false
        } catch {
            return error is NothingHandedOn
        }
    }

    @Test("A snapshot that holds all its state is handed on as it was sent, at once")
    func whole() async throws {
        let directory = TemporaryDirectory()
        try await receive(try await frames(stateApart: false, in: directory), directory: directory) { outcome in
            #expect(outcome.wasSnapshot == true)
            #expect(outcome.deliveredAtOnce)
            let (message, data) = try await outcome.delivered.get()
            #expect(data == SnapshotSenderTests.message.snapshot?.data)
            #expect(message.snapshot?.metadata == SnapshotSenderTests.message.snapshot?.metadata)
            #expect(outcome.receiver.namedFiles.isEmpty)
        }
    }

    @Test("A state sent apart is synced to a file, and the snapshot handed on names that file; removing named files removes it")
    func stateApart() async throws {
        let directory = TemporaryDirectory()
        try await receive(try await frames(stateApart: true, in: directory), directory: directory) { outcome in
            let (_, data) = try await outcome.delivered.get()
            let container = try SnapshotContainer(decoding: data)
            #expect(container.v1 == Array(repeating: 7, count: 25))
            let reference = try #require(container.other.flatMap(SpooledState.parse))
            #expect(reference.note == Array("note: index 40".utf8))
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: reference.path))) == Self.state)
            #expect(outcome.receiver.namedFiles == [reference.path])
            outcome.receiver.removeNamedFiles()
            #expect(!FileManager.default.fileExists(atPath: reference.path))
            #expect(outcome.receiver.namedFiles.isEmpty)
        }
    }

    @Test("A connection that ends before the snapshot does leaves nothing: no hand-over, no file")
    func connectionEnds() async throws {
        let directory = TemporaryDirectory()
        let frames = try await frames(stateApart: true, in: directory)
        try await receive(frames, directory: directory, closeAfter: frames.count - 1, waitingAtMost: .milliseconds(500)) { outcome in
            #expect(outcome.wasSnapshot == false, "the pieces were forgotten with the connection")
            #expect(await handsNothingOn(outcome))
            let left = try await receivedFiles(in: directory, waitingFor: 0)
            #expect(left.isEmpty)
        }
    }

    @Test("A snapshot the lab cut off is dropped whole, its file removed")
    func dropped() async throws {
        let directory = TemporaryDirectory()
        try await receive(try await frames(stateApart: true, in: directory), directory: directory, drop: true, waitingAtMost: .milliseconds(500)) { outcome in
            #expect(outcome.wasSnapshot == true)
            #expect(await handsNothingOn(outcome))
            let left = try await receivedFiles(in: directory, waitingFor: 0)
            #expect(left.isEmpty)
        }
    }

    @Test("A snapshot naming a state that never arrived is refused, not handed on")
    func stateMissing() async throws {
        let directory = TemporaryDirectory()
        let frames = try await frames(stateApart: true, in: directory).filter {
            if case .stateChunk = $0 { return false } else { return true }
        }
        try await receive(frames, directory: directory, waitingAtMost: .milliseconds(500)) { outcome in
            #expect(outcome.wasSnapshot == true)
            #expect(await handsNothingOn(outcome))
        }
    }

    @Test("The pieces of a state sent apart are kept in a file while they come, not in memory")
    func spooledWhileComing() async throws {
        let directory = TemporaryDirectory()
        let frames = try await frames(stateApart: true, in: directory).filter {
            if case .stateChunk = $0 { return true } else { return false }
        }
        try await receive(frames, directory: directory) { outcome in
            #expect(outcome.wasSnapshot == nil, "no last frame yet")
            let spooled = try await receivedFiles(in: directory, waitingFor: 1)
            #expect(spooled.count == 1)
        }
    }
}
