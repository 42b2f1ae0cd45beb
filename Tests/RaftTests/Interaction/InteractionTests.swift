import Foundation
import Testing

/// The golden scripts in `testdata/`: each rule of Raft shown happening, step by step, with the
/// states and messages a reader can check against the paper. A change in behaviour fails here
/// with the whole new transcript printed; `RAFT_GOLDEN_REWRITE=1` writes it back for review.
@Suite("Golden interaction scripts", .timeLimit(.minutes(3)))
struct InteractionTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("testdata")

    static var scripts: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".txt") }.sorted()
    }

    @Test("Every script prints what its golden file says", arguments: scripts)
    func script(_ name: String) throws {
        let url = Self.directory.appendingPathComponent(name)
        let script = try InteractionScript(parsing: String(contentsOf: url, encoding: .utf8), name: name)
        var environment = InteractionEnvironment()
        var outputs: [[String]] = []
        for item in script.cases {
            do { outputs.append(try environment.run(item.command)) } catch {
                Issue.record("\(name):\(item.line): \(error)")
                return
            }
        }
        let actual = script.render(outputs: outputs)
        if ProcessInfo.processInfo.environment["RAFT_GOLDEN_REWRITE"] == "1" {
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        for (item, output) in zip(script.cases, outputs) where item.expected != output {
            Issue.record("\(name):\(item.line): '\(item.command)' printed\n\(output.joined(separator: "\n"))\ninstead of\n\(item.expected.joined(separator: "\n"))")
        }
    }

    @Test("There are scripts to run, and a script whose output is wrong fails")
    func scriptsExistAndCanFail() throws {
        #expect(Self.scripts.count >= 4)
        let doctored = try InteractionScript(parsing: "cluster 1\n----\n1: leader term=9\n", name: "doctored")
        var environment = InteractionEnvironment()
        let output = try environment.run(doctored.cases[0].command)
        #expect(output != doctored.cases[0].expected)
        #expect(output == ["1: follower term=0 vote=0 commit=0 applied=0 last=0"])
    }
}
