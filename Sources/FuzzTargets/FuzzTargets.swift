#if canImport(Glibc)
import Glibc
#endif
import BinaryCodec
import NIOCore
import NIOEmbedded
import Raft
import RaftCore
import RaftDisk
import SingleNode

/// What libFuzzer feeds hostile bytes to (`Fuzz/`, `Scripts/fuzz.sh`), and what the replay
/// tests run every kept input through (`Tests/FuzzTests`). Each target decodes the bytes the way
/// the server would meet them and returns the properties it found broken (empty: none). A crash,
/// a hang or a huge allocation inside is a finding too: libFuzzer reports those itself.
public enum FuzzTargets {
    /// The targets by name, as the corpus folders are named.
    public static let all: [String: @Sendable ([UInt8]) -> [String]] = [
        "wal": walSegment,
        "peer-frame": peerFrame,
        "snapshot": snapshot,
        "v1-command": v1Command,
        "v1-http": v1HTTP,
    ]

    /// A WAL segment whose records are the input, behind a valid header (so the fuzzer works
    /// on records, not on the magic): opening the member's storage either fails with an error
    /// or gives a log that opens again to the same state (a torn tail cut once, not twice).
    public static func walSegment(_ data: [UInt8]) -> [String] {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let wal = directory + "/wal"
        mkdir(wal, 0o700)
        let segment = WALFormat.header(sequence: 0) + data
        let path = wal + "/" + WALFormat.segmentName(sequence: 0, firstIndex: 1)
        let files = PosixFileSystem()
        do {
            let descriptor = try files.open(path, create: true)
            defer { files.close(descriptor) }
            try files.write(descriptor, segment, at: 0, path: path)
        } catch {
            return ["cannot write \(path): \(error)"]
        }
        guard let first = try? DiskStorage.open(directory: directory, initialConfState: ConfState(voters: [1])) else { return [] }
        let state = describe(first)
        guard let second = try? DiskStorage.open(directory: directory, initialConfState: ConfState(voters: [1])) else {
            return ["the log opened once, then not again"]
        }
        return describe(second) == state ? [] : ["reopened differently: \(state) then \(describe(second))"]
    }

    private static func describe(_ storage: DiskStorage) -> String {
        let (hard, conf) = storage.initialState()
        let (first, last) = (storage.firstIndex(), storage.lastIndex())
        let terms = last >= first ? ((try? storage.entries(first, last + 1, maxBytes: .max)) ?? []).map(\.term) : []
        return "hard=\(hard) conf=\(conf) first=\(first) last=\(last) terms=\(terms)"
    }

    /// A frame's body off the peer port (the transport has taken its length prefix off): what
    /// decodes re-encodes to a frame whose body decodes to the same frame.
    public static func peerFrame(_ data: [UInt8]) -> [String] {
        guard let frame = PeerFrame.decode(data[...]) else { return [] }
        let again = PeerFrame.decode(frame.encoded().dropFirst(4))
        return again == frame ? [] : ["\(frame) re-encoded decodes as \(String(describing: again))"]
    }

    /// A snapshot's container and the v1 store inside it: what decodes round-trips.
    public static func snapshot(_ data: [UInt8]) -> [String] {
        var problems: [String] = []
        if let container = try? SnapshotContainer(decoding: data), (try? SnapshotContainer(decoding: container.encoded())) != container {
            problems.append("the container does not round-trip")
        }
        if let store = try? KeyStore(encoded: data) {
            let encoded = store.encoded()
            if (try? KeyStore(encoded: encoded))?.encoded() != encoded { problems.append("the v1 store does not round-trip") }
        }
        return problems
    }

    /// A v1 command from the log: what decodes round-trips.
    public static func v1Command(_ data: [UInt8]) -> [String] {
        guard let command = StoreMachine.decode(data[...]) else { return [] }
        let again = StoreMachine.decode(StoreMachine.encode(command)[...])
        return again == command ? [] : ["\(command) re-encoded decodes as \(String(describing: again))"]
    }

    /// Bytes from a client on the v1 port, through the HTTP parser and the v1 API over a store
    /// in memory: whatever is answered starts with an HTTP/1.x status line.
    public static func v1HTTP(_ data: [UInt8]) -> [String] {
        let channel = EmbeddedChannel()
        let backend = SingleNodeBackend(clock: FixedClock())
        backend.bootstrap(name: "fuzz", peerURL: "http://127.0.0.1:7001", clientURL: "http://127.0.0.1:4001")
        do {
            try V1HTTPService(backend: backend).addHandlers(to: channel.pipeline.syncOperations, after: nil)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4001)).wait()
            _ = try? channel.writeInbound(ByteBuffer(bytes: data))
            channel.embeddedEventLoop.run()
        } catch {
            return ["cannot set the connection up: \(error)"]
        }
        var output: [UInt8] = []
        while let buffer = try? channel.readOutbound(as: ByteBuffer.self) { output += Array(buffer.readableBytesView) }
        _ = try? channel.finish()
        guard !output.isEmpty else { return [] }
        return output.starts(with: Array("HTTP/1.".utf8)) ? [] : ["an answer that is not HTTP/1.x: \(String(decoding: output.prefix(40), as: UTF8.self))"]
    }

    struct FixedClock: WallClock {
        func now() -> Timestamp { Timestamp(seconds: 1_700_000_000) }
    }

    static func temporaryDirectory() -> String {
        var template = Array(((getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp") + "/fuzz-XXXXXX").utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    static func removeTree(_ path: String) {
        if unlink(path) == 0 { return }
        for name in (try? PosixFileSystem().list(path)) ?? [] { removeTree(path + "/" + name) }
        rmdir(path)
    }
}
