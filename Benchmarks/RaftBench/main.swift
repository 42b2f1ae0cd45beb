// Stage 2 benchmarks: the Raft core alone and the write-ahead log, on this machine.
// Run with Benchmarks/stage2-raft.sh (a release build); prints Markdown tables.
#if canImport(Glibc)
import Glibc
#endif
import RaftCore
import RaftDisk
import RaftTestKit

let seconds = Double(CommandLine.arguments.dropFirst().first ?? "") ?? 2

func measure(for duration: Double, _ body: () throws -> Int) rethrows -> (count: Int, elapsed: Double) {
    let clock = ContinuousClock()
    let start = clock.now
    var count = 0
    while true {
        count += try body()
        let elapsed = start.duration(to: clock.now)
        let secondsElapsed = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        if secondsElapsed >= duration { return (count, secondsElapsed) }
    }
}

func rounded(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    let whole = scaled / Int(scale), fraction = String(scaled % Int(scale))
    return "\(whole)." + String(repeating: "0", count: digits - fraction.count) + fraction
}

// MARK: The core: a 3-node cluster in memory, every message delivered at once.

struct Cluster {
    var nodes: [RaftNode<MemoryStorage>]
    var applied = 0

    init() {
        nodes = (1...3).map { id in RaftNode(config: RaftConfig(id: UInt64(id)), storage: MemoryStorage(confState: ConfState(voters: [1, 2, 3]))) }
        nodes[0].campaign()
        settle()
    }

    /// Collects what a Ready sends (the benchmark delivers it at once).
    struct Outbox: ReadyHandler {
        var messages: [Message] = []
        mutating func send(_ messages: [Message]) { self.messages += messages }
    }

    mutating func settle() {
        var outbox = Outbox()
        repeat {
            for position in nodes.indices {
                guard let ready = nodes[position].handleReady(with: &outbox) else { continue }
                if position == 0 { applied += ready.committedEntries.count }
            }
            let batch = outbox.messages
            outbox.messages = []
            for message in batch { nodes[Int(message.to) - 1].step(message) }
        } while !outbox.messages.isEmpty || nodes.contains { $0.hasReady }
    }

    mutating func compactIfLarge() {
        for position in nodes.indices {
            let applied = nodes[position].appliedIndex
            guard applied > 20_000, nodes[position].storage.firstIndex() + 20_000 < applied else { continue }
            let conf = nodes[position].confState
            _ = try? nodes[position].storage.createSnapshot(at: applied, confState: conf, data: [])
            try? nodes[position].storage.compact(through: applied - 1000)
        }
    }
}

print("## Raft core: 3 nodes in memory, no disk (\(Int(seconds)) s per row)\n")
print("| proposals per Ready | proposals committed/s | Readys per second (leader) |")
print("|---:|---:|---:|")
let payload = [UInt8](repeating: 7, count: 256)
for batch in [1, 16, 256] {
    var cluster = Cluster()
    var rounds = 0
    let before = cluster.applied
    let result = measure(for: seconds) {
        for _ in 0..<batch { try? cluster.nodes[0].propose(payload) }
        cluster.settle()
        cluster.compactIfLarge()
        rounds += 1
        return 0
    }
    let committed = Double(cluster.applied - before)
    print("| \(batch) | \(Int(committed / result.elapsed)) | \(Int(Double(rounds) / result.elapsed)) |")
}

// MARK: The WAL against the disk's own limit.

let base = FileManagerLite.temporaryDirectory()
defer { FileManagerLite.remove(base) }

func rawSyncsPerSecond() -> Double {
    let path = base + "/raw"
    let descriptor = open(path, O_WRONLY | O_CREAT, 0o600)
    posix_fallocate(descriptor, 0, 64 << 20)
    var offset = 0
    let record = [UInt8](repeating: 1, count: 256)
    let result = measure(for: seconds) {
        _ = record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, 256, off_t(offset)) }
        fdatasync(descriptor)
        offset = (offset + 256) % (60 << 20)
        return 1
    }
    close(descriptor)
    return Double(result.count) / result.elapsed
}

let raw = rawSyncsPerSecond()
print("\n## Write-ahead log: 256-byte entries, one fdatasync per batch (\(Int(seconds)) s per row)\n")
print("Baseline in the same run: preallocated file, `pwrite` of 256 bytes + `fdatasync`: **\(Int(raw)) syncs/s**.\n")
print("| entries per batch | entries/s | syncs/s | syncs/s vs baseline | entries/s vs baseline |")
print("|---:|---:|---:|---:|---:|")
for batch in [1, 16, 256] {
    let directory = base + "/wal-\(batch)"
    let (log, _) = try WriteAheadLog.open(directory: directory)
    var index: UInt64 = 0
    let result = try measure(for: seconds) {
        var entries: [Entry] = []
        entries.reserveCapacity(batch)
        for _ in 0..<batch {
            index += 1
            entries.append(Entry(term: 1, index: index, data: payload))
        }
        try log.append(entries, hardState: HardState(term: 1, vote: 1, commit: index))
        return batch
    }
    let entriesPerSecond = Double(result.count) / result.elapsed
    let syncsPerSecond = Double(log.syncCount) / result.elapsed
    print("| \(batch) | \(Int(entriesPerSecond)) | \(Int(syncsPerSecond)) | \(rounded(syncsPerSecond / raw, 2))x | \(rounded(entriesPerSecond / raw, 1))x |")
}

enum FileManagerLite {
    static func temporaryDirectory() -> String {
        // On the project's disk, not /tmp (which may be memory): syncs must reach the device.
        var template = Array(".build/raft-bench-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    static func remove(_ path: String) {
        for name in (try? PosixFileSystem().list(path)) ?? [] {
            let child = path + "/" + name
            if unlink(child) != 0 { remove(child) }
        }
        rmdir(path)
    }
}
