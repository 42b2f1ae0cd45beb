import NIOCore
import Testing

@testable import Raft

/// etcd's read-loop batching, by hand: no cluster, no clock but the one passed in.
@Suite("ReadIndex batching", .timeLimit(.minutes(3)))
struct ReadIndexQueueTests {
    static func at(_ milliseconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(milliseconds) * 1_000_000) }

    @Test("Reads arriving while a ReadIndex is unconfirmed wait for the next one, which starts once it is confirmed")
    func batching() {
        var reads = ReadIndexQueue<String>()
        reads.enqueue("a")
        reads.enqueue("b")
        let first = reads.startNext(at: Self.at(0))
        #expect(first != nil)
        reads.enqueue("c")
        #expect(reads.startNext(at: Self.at(1)) == nil, "one unconfirmed at a time")
        reads.confirm(first!, index: 10)
        let second = reads.startNext(at: Self.at(2))
        #expect(second != nil && second != first)
        #expect(reads.requests[second!]?.waiters == ["c"])
        #expect(reads.requests[first!]?.waiters == ["a", "b"])
    }

    @Test("A confirmed read completes only once its index is applied")
    func completesWhenApplied() {
        var reads = ReadIndexQueue<String>()
        reads.enqueue("a")
        let context = reads.startNext(at: Self.at(0))!
        #expect(reads.takeApplied(through: 100).isEmpty, "not confirmed yet")
        reads.confirm(context, index: 7)
        #expect(reads.takeApplied(through: 6).isEmpty)
        #expect(reads.takeApplied(through: 7).map(\.waiters) == [["a"]])
        #expect(reads.requests.isEmpty)
    }

    @Test("An unconfirmed ReadIndex is asked again under the same context after the interval, not before")
    func retry() {
        var reads = ReadIndexQueue<String>()
        reads.enqueue("a")
        let context = reads.startNext(at: Self.at(0))!
        #expect(reads.retry(at: Self.at(400), after: .milliseconds(500)) == nil)
        #expect(reads.retry(at: Self.at(500), after: .milliseconds(500)) == context)
        #expect(reads.retry(at: Self.at(900), after: .milliseconds(500)) == nil, "the interval restarts at each ask")
        reads.confirm(context, index: 1)
        #expect(reads.retry(at: Self.at(5000), after: .milliseconds(500)) == nil, "nothing unconfirmed")
    }

    @Test("A leader change fails the unconfirmed reads, keeps the confirmed ones and the waits for an index, and frees the next ReadIndex")
    func leaderChange() {
        var reads = ReadIndexQueue<String>()
        reads.enqueue("confirmed")
        let first = reads.startNext(at: Self.at(0))!
        reads.confirm(first, index: 5)
        reads.enqueue("unconfirmed")
        let second = reads.startNext(at: Self.at(1))!
        let wait = reads.wait("membership", for: 9)
        reads.enqueue("queued")
        let failed = reads.takeUnconfirmed()
        #expect(failed.map(\.context) == [second] && failed.map(\.waiters) == [["unconfirmed"]])
        #expect(Set(reads.requests.keys) == [first, wait])
        #expect(reads.startNext(at: Self.at(2)) != nil, "the queued read starts under the new leader")
    }

    @Test("A timed-out ReadIndex gives its waiters back once, and no longer holds up the next")
    func timeout() {
        var reads = ReadIndexQueue<String>()
        reads.enqueue("a")
        let context = reads.startNext(at: Self.at(0))!
        reads.enqueue("b")
        #expect(reads.takeTimedOut(context) == ["a"])
        #expect(reads.takeTimedOut(context) == nil)
        #expect(reads.startNext(at: Self.at(1)) != nil)
        #expect(reads.takeAll() == ["b"])
        #expect(reads.requests.isEmpty && reads.queued.isEmpty && reads.unconfirmed == nil)
    }

    @Test("Contexts travel through Raft as eight bytes and come back")
    func contextBytes() {
        #expect(ReadIndexQueue<String>.context(ReadIndexQueue<String>.bytes(0xDEAD_BEEF)) == 0xDEAD_BEEF)
        #expect(ReadIndexQueue<String>.context([1, 2]) == nil)
    }
}
