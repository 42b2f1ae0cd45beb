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
        .library(name: "SingleNode", targets: ["SingleNode"]),
        .library(name: "Raft", targets: ["Raft"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
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
        // Stage 2: Raft as a pure state machine (Core) and its durable log (Storage).
        .target(
            name: "Raft",
            dependencies: [
                "SingleNode",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Stage2-Raft",
            exclude: ["README.md"]
        ),
        // The daemon: flags in, a running server out.
        .executableTarget(
            name: "etcd",
            dependencies: [
                "SingleNode", "Raft",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/etcd"
        ),
        .testTarget(
            name: "SingleNodeTests",
            dependencies: [
                "SingleNode",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
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
        // Benchmarks/stage2-raft.sh runs this in release.
        .executableTarget(
            name: "raft-bench",
            dependencies: ["Raft"],
            path: "Benchmarks/RaftBench"
        ),
        .testTarget(
            name: "RaftTests",
            dependencies: [
                "Raft", "SingleNode",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/RaftTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
