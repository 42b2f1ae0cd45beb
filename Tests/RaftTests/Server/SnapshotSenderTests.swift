import Foundation
import Testing

@testable import Raft
import RaftCore

/// What goes down a snapshot connection, frame by frame, without a network: the state a machine
/// keeps apart first, then the snapshot's own bytes, then the message.
@Suite("Sending a snapshot, frame by frame", .timeLimit(.minutes(3)))
struct SnapshotSenderTests {
    static let message = Message(
        kind: .snapshot, to: 2, from: 1, term: 3,
        snapshot: Snapshot(metadata: SnapshotMetadata(index: 40, term: 3, confState: ConfState(voters: [1, 2])),
                           data: SnapshotContainer(v1: Array(repeating: 7, count: 25), other: [1], members: []).encoded()))

    func frames(_ sender: SnapshotSender) async throws -> [PeerFrame] {
        var frames: [PeerFrame] = []
        try await sender.send(Self.message) { frames.append($0) }
        return frames
    }

    @Test("A snapshot that holds all its state goes in pieces of the chunk size, then the message without its data")
    func wholeInTheSnapshot() async throws {
        let directory = TemporaryDirectory()
        let frames = try await frames(SnapshotSender(chunkSize: 10, copyState: nil, spoolPath: directory.path + "/unused"))
        var data: [UInt8] = []
        for frame in frames.dropLast() {
            guard case .snapshotChunk(let piece) = frame else { Issue.record("not a snapshot piece: \(frame)"); return }
            #expect(piece.count <= 10)
            data += piece
        }
        #expect(data == Self.message.snapshot?.data)
        guard case .snapshotDone(let header) = frames.last else { Issue.record("no end"); return }
        #expect(header.snapshot?.data == [] && header.snapshot?.metadata == Self.message.snapshot?.metadata && header.term == 3)
    }

    @Test("A machine's state kept apart goes first, read from its copy, and the snapshot names it by the machine's note")
    func stateApart() async throws {
        let directory = TemporaryDirectory()
        let spool = directory.path + "/state.sending-1"
        let state = (0..<95).map { UInt8($0) }
        let sender = SnapshotSender(chunkSize: 10, copyState: { path in
            try Data(state).write(to: URL(fileURLWithPath: path))
            return Array("note: index 40".utf8)
        }, spoolPath: spool)
        let frames = try await frames(sender)
        var sent: [UInt8] = [], data: [UInt8] = []
        var order: [String] = []
        for frame in frames {
            switch frame {
            case .stateChunk(let piece): sent += piece; order.append("state")
            case .snapshotChunk(let piece): data += piece; order.append("snapshot")
            case .snapshotDone: order.append("done")
            default: Issue.record("unexpected \(frame)")
            }
        }
        #expect(sent == state)
        #expect(order.firstIndex(of: "snapshot")! > order.lastIndex(of: "state")!)
        #expect(order.last == "done")
        let container = try SnapshotContainer(decoding: data)
        #expect(container.v1 == Array(repeating: 7, count: 25))
        #expect(container.other.flatMap(SpooledState.parse)?.note == Array("note: index 40".utf8))
        #expect(!FileManager.default.fileExists(atPath: spool), "the copy is removed once sent")
    }

    @Test("A failed write stops the stream and still removes the copy")
    func failedWrite() async throws {
        struct Broken: Error {}
        let directory = TemporaryDirectory()
        let spool = directory.path + "/state.sending-2"
        let sender = SnapshotSender(chunkSize: 10, copyState: { path in
            try Data(count: 100).write(to: URL(fileURLWithPath: path))
            return []
        }, spoolPath: spool)
        var writes = 0
        await #expect(throws: Broken.self) {
            try await sender.send(Self.message) { _ in
                writes += 1
                if writes == 3 { throw Broken() }
            }
        }
        #expect(writes == 3)
        #expect(!FileManager.default.fileExists(atPath: spool))
    }
}
