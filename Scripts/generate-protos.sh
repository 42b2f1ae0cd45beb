#!/usr/bin/env bash
# Regenerates the Swift for the etcd v3 API from Protos/ into Sources/Stage4-V3API/Generated.
# The output is committed: building the generators takes minutes, and CI never needs them.
#
#   Scripts/generate-protos.sh
#
# Needs Debian's protoc (apt-get install protobuf-compiler). The two plugins are built once, in
# release, from the package mirror in a throwaway package under .build-protogen (ignored by git),
# at the versions Package.swift uses.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler; }

GEN=.build-protogen
if [ ! -x "$GEN/.build/release/protoc-gen-swift" ] || [ ! -x "$GEN/.build/release/protoc-gen-grpc-swift-2" ]; then
    mkdir -p "$GEN/Sources/Placeholder"
    echo '// only here so the package has a target' > "$GEN/Sources/Placeholder/Placeholder.swift"
    cat > "$GEN/Package.swift" <<'SWIFT'
// swift-tools-version: 6.0
import PackageDescription
let package = Package(
    name: "protogen",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
    ],
    targets: [.target(name: "Placeholder", path: "Sources/Placeholder")]
)
SWIFT
    (cd "$GEN" && swift build -c release --product protoc-gen-swift && swift build -c release --product protoc-gen-grpc-swift-2)
fi

OUT=Sources/Stage4-V3API/Generated
rm -rf "$OUT"; mkdir -p "$OUT"
protoc -I Protos \
    --plugin=protoc-gen-swift="$GEN/.build/release/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift-2="$GEN/.build/release/protoc-gen-grpc-swift-2" \
    --swift_out="$OUT" --swift_opt=Visibility=Public,FileNaming=PathToUnderscores \
    --grpc-swift-2_out="$OUT" --grpc-swift-2_opt=Visibility=Public,FileNaming=PathToUnderscores \
    mvccpb/kv.proto authpb/auth.proto etcdserverpb/rpc.proto v3lockpb/v3lock.proto v3electionpb/v3election.proto
ls -l "$OUT"
