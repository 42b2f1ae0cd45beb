import NIOCore
import NIOEmbedded
import Testing

@testable import V3

@Suite("Flushes batched per turn of the event loop", .timeLimit(.minutes(3)))
struct FlushBatcherTests {
    @Test("Flushes asked for in one turn become one, at the end of the turn")
    func oneFlushPerTurn() throws {
        let channel = EmbeddedChannel(handler: FlushBatcher())
        for byte: UInt8 in [1, 2, 3] {
            channel.write(ByteBuffer(bytes: [byte]), promise: nil)
            channel.flush()
        }
        // Nothing has reached the socket yet: the flush waits for the queue to drain.
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.embeddedEventLoop.run()
        var written: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written += buffer.readableBytesView }
        #expect(written == [1, 2, 3])
    }

    @Test("A close sends what was written before it")
    func closeFlushesFirst() throws {
        let channel = EmbeddedChannel(handler: FlushBatcher())
        channel.write(ByteBuffer(bytes: [7]), promise: nil)
        channel.flush()
        _ = channel.close()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [7]))
    }
}
