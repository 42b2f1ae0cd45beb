import Foundation
import FuzzTargets
import FuzzTargetsV3
import Testing

/// Every input the fuzzers kept (the corpus, which covers what they reached) and every input
/// that once broke something (crashers, each a regression test), run through its target again:
/// no crash, and none of the target's properties broken.
@Suite("Fuzz corpus and crashers, replayed", .timeLimit(.minutes(3)))
struct FuzzReplayTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let targets = FuzzTargets.all.merging(FuzzTargetsV3.all) { first, _ in first }

    static func inputs(_ folder: String, _ target: String) -> [URL] {
        let directory = root.appendingPathComponent(folder).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test("Each target has a corpus to start from", arguments: targets.keys.sorted())
    func hasCorpus(target: String) {
        #expect(!Self.inputs("corpus", target).isEmpty, "Tests/FuzzTests/corpus/\(target) is empty")
    }

    @Test("Every kept input runs through its target with no property broken", arguments: targets.keys.sorted())
    func replay(target: String) throws {
        let run = try #require(Self.targets[target])
        for input in Self.inputs("corpus", target) + Self.inputs("crashers", target) {
            let problems = run(Array(try Data(contentsOf: input)))
            #expect(problems.isEmpty, "\(input.lastPathComponent): \(problems)")
        }
    }
}
