// libFuzzer's entry points. This file is compiled with -parse-as-library; SwiftPM links an
// executable's `main` to `etcd_fuzz_main`, which hands over to libFuzzer's driver. FUZZ_TARGET
// names the target, as Tests/FuzzTests/corpus names its folders.
#if canImport(Glibc)
import Glibc
#endif
import FuzzTargets
import FuzzTargetsV3

nonisolated(unsafe) var target: (([UInt8]) -> [String])?

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let targets = FuzzTargets.all.merging(FuzzTargetsV3.all) { first, _ in first }
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let chosen = targets[name] else {
        say("set FUZZ_TARGET to one of: \(targets.keys.sorted().joined(separator: ", "))\n")
        exit(2)
    }
    target = chosen
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    let problems = target!(bytes)
    if !problems.isEmpty {
        say("property broken: \(problems.joined(separator: "; "))\n")
        abort()  // libFuzzer keeps the input as a crasher
    }
    return 0
}

func say(_ text: String) {
    _ = text.withCString { write(2, $0, strlen($0)) }
}

typealias Arguments = UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>

@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: Arguments, _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("etcd_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { start, size in testOneInput(start, size) }
}
