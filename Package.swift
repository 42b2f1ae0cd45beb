// swift-tools-version: 6.1
// The package is laid out in stages a learner can study one at a time: each stage is its own
// module and later stages import earlier ones, never the reverse.
import PackageDescription

let package = Package(
    name: "etcd-swift",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "etcd", targets: ["etcd"]),
        .executable(name: "etcd-stage1", targets: ["etcd-stage1"]),
        .executable(name: "etcd-stage2", targets: ["etcd-stage2"]),
        .executable(name: "etcd-stage3", targets: ["etcd-stage3"]),
        .library(name: "SingleNode", targets: ["SingleNode"]),
        .library(name: "RaftCore", targets: ["RaftCore"]),
        .library(name: "Raft", targets: ["Raft"]),
        .library(name: "TLS", targets: ["TLS"]),
        .library(name: "V3", targets: ["V3"]),
        .library(name: "FuzzTargets", targets: ["FuzzTargets"]),
        .library(name: "FuzzTargetsV3", targets: ["FuzzTargetsV3"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
    ],
    targets: [
        // Stage 1: the keys store and the v1 HTTP API on one machine, in memory.
        .target(
            name: "SingleNode",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            path: "Sources/Stage1-SingleNode",
            exclude: ["README.md"]
        ),
        // Stage 2, part 1: Raft as a pure state machine. No dependencies at all: no package can
        // creep in (it imports nothing, not even Foundation or the C library, and must stay so).
        // Its callers (the server, the test kit, the benchmark) are other modules, and the core
        // is generic over its storage: without cross-module optimization every call ran
        // unspecialized, looking up generic metadata at runtime, at half the proposals/s.
        .target(
            name: "RaftCore", path: "Sources/Stage2-Raft/Core",
            swiftSettings: [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]),
        // Little-endian codecs and CRC-32C, shared by the log, the peer frames and Stage 4's MVCC.
        .target(name: "BinaryCodec", path: "Sources/Stage2-Raft/Codec"),
        // Stage 2, part 1: the durable log and snapshot files under the core. Files, no NIO.
        .target(
            name: "RaftDisk",
            dependencies: ["RaftCore", "BinaryCodec"],
            path: "Sources/Stage2-Raft/Storage"
        ),
        // Stage 2, part 2: the shell: peers over TCP and the server loop around the core.
        .target(
            name: "Raft",
            dependencies: [
                "RaftCore", "RaftDisk", "BinaryCodec", "SingleNode",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Sources/Stage2-Raft",
            exclude: ["README.md", "Core", "Codec", "Storage", "TestKit"]
        ),
        // For tests, the simulator and the benchmark: the one in-memory Ready loop, a cluster
        // driven by hand, and readable printers of the core's values.
        .target(name: "RaftTestKit", dependencies: ["RaftCore"], path: "Sources/Stage2-Raft/TestKit"),
        // Stage 3: TLS for the client and peer listeners, plugged into Stages 1 and 2 from outside.
        .target(
            name: "TLS",
            dependencies: [
                "SingleNode", "RaftCore", "RaftDisk", "Raft",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Stage3-TLS",
            exclude: ["README.md"]
        ),
        // SQLite from the system (libsqlite3-dev): the file Stage 4's backend keeps revisions in.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // libxcrypt from the system (libcrypt-dev): bcrypt, for the passwords of v3 users.
        .systemLibrary(name: "CCrypt", path: "Sources/CCrypt", providers: [.apt(["libcrypt-dev"])]),
        // Stage 4's wire contract: Swift generated from Protos/ by Scripts/generate-protos.sh.
        .target(
            name: "EtcdAPI",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            path: "Sources/Stage4-V3API"
        ),
        // Stage 4: the v3 API: an MVCC store replicated through Stage 2's log, served over gRPC.
        .target(
            name: "V3",
            dependencies: [
                "EtcdAPI", "BinaryCodec", "RaftCore", "RaftDisk", "Raft", "SingleNode", "CSQLite", "CCrypt",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                // The JSON gateway calls the services in process, as etcd's gateway dials its own port.
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // The client certificate's Common Name, as a v3 user (`--client-cert-auth`).
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                // JWT login tokens (`--auth-token jwt,…`).
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            path: "Sources/Stage4-V3",
            exclude: ["README.md"]
        ),
        // The daemon: flags in, a running server out.
        .executableTarget(
            name: "etcd",
            dependencies: [
                "SingleNode", "RaftCore", "RaftDisk", "Raft", "TLS", "V3",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Sources/etcd"
        ),
        // Hostile bytes for the decoders: libFuzzer drives these from Fuzz/ (Scripts/fuzz.sh),
        // and FuzzTests replays every kept input through them on each test run.
        .target(
            name: "FuzzTargets",
            dependencies: [
                "RaftCore", "RaftDisk", "BinaryCodec", "Raft", "SingleNode",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Sources/FuzzTargets"
        ),
        .target(
            name: "FuzzTargetsV3",
            dependencies: ["V3", "EtcdAPI", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/FuzzTargetsV3"
        ),
        .testTarget(
            name: "FuzzTests",
            dependencies: ["FuzzTargets", "FuzzTargetsV3"],
            path: "Tests/FuzzTests",
            exclude: ["corpus", "crashers"]
        ),
        .testTarget(
            name: "SingleNodeTests",
            dependencies: [
                "SingleNode",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SingleNodeTests"
        ),
        // Stage 1 alone, in memory: for learners.
        .executableTarget(
            name: "etcd-stage1",
            dependencies: ["SingleNode", .product(name: "Logging", package: "swift-log")],
            path: "Sources/etcd-stage1"
        ),
        // Stage 2 alone: the v1 API replicated over Raft, no TLS, no v3.
        .executableTarget(
            name: "etcd-stage2",
            dependencies: ["SingleNode", "Raft", .product(name: "Logging", package: "swift-log")],
            path: "Sources/etcd-stage2"
        ),
        // Stage 3 alone: Stage 2 with TLS for clients and peers.
        .executableTarget(
            name: "etcd-stage3",
            dependencies: ["SingleNode", "Raft", "TLS", .product(name: "Logging", package: "swift-log")],
            path: "Sources/etcd-stage3"
        ),
        // Benchmarks/stage2-raft.sh runs this in release.
        .executableTarget(
            name: "raft-bench",
            dependencies: ["RaftCore", "RaftDisk", "RaftTestKit"],
            path: "Benchmarks/RaftBench"
        ),
        .testTarget(
            name: "RaftTests",
            dependencies: [
                "RaftCore", "RaftDisk", "BinaryCodec", "RaftTestKit", "Raft", "SingleNode",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/RaftTests",
            // The golden scripts are read from the source tree by path, not bundled.
            exclude: ["Interaction/testdata"]
        ),
        .testTarget(
            name: "TLSTests",
            dependencies: [
                "TLS", "RaftCore", "RaftDisk", "Raft", "SingleNode",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TLSTests"
        ),
        .testTarget(
            name: "V3Tests",
            dependencies: [
                "V3", "EtcdAPI", "BinaryCodec", "RaftCore", "RaftDisk", "Raft", "SingleNode",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/V3Tests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
