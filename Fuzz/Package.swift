// swift-tools-version: 6.0
// The fuzzers: one libFuzzer binary over every target in FuzzTargets and FuzzTargetsV3. Built
// apart from the main package because every module in it is compiled for libFuzzer
// (-sanitize=fuzzer,address); Scripts/fuzz.sh builds and runs it. `etcd-swift` is a link to the
// repository root, so the dependency has the same name wherever the repository is cloned.
import PackageDescription

let package = Package(
    name: "etcd-fuzz",
    dependencies: [.package(path: "etcd-swift")],
    targets: [
        .executableTarget(
            name: "etcd-fuzz",
            dependencies: [
                .product(name: "FuzzTargets", package: "etcd-swift"),
                .product(name: "FuzzTargetsV3", package: "etcd-swift"),
            ],
            path: "Sources/etcd-fuzz"
        ),
    ]
)
