import Foundation

/// A golden interaction script, in the spirit of etcd-raft's data-driven tests: each case is a
/// command, a `----` line, and the output the command must print, up to a blank line.
///
///     # comments start with '#'
///     propose 1 x
///     ----
///     ok
///
/// `render` writes the same format back, so a changed behaviour shows as a diff of readable
/// text, and `RAFT_GOLDEN_REWRITE=1 swift test --filter Interaction` rewrites the files for
/// review (never trusted without reading the diff).
struct InteractionScript {
    struct Case {
        /// Comment lines just above the command, kept when the file is rewritten.
        var comments: [String]
        var command: String
        var expected: [String]
        /// 1-based line of the command, for failure messages.
        var line: Int
    }

    var cases: [Case] = []
    /// Comments after the last case.
    var trailer: [String] = []

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    init(parsing text: String, name: String) throws(ParseError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var comments: [String] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            if line.hasPrefix("#") {
                comments.append(line)
                index += 1
                continue
            }
            if line.trimmingCharacters(in: .whitespaces).isEmpty {
                if !comments.isEmpty { comments.append("") }
                index += 1
                continue
            }
            guard index + 1 < lines.count, lines[index + 1] == "----" else {
                throw ParseError(description: "\(name):\(index + 1): '\(line)' must be followed by a '----' line")
            }
            var expected: [String] = []
            var cursor = index + 2
            while cursor < lines.count, !lines[cursor].isEmpty {
                expected.append(lines[cursor])
                cursor += 1
            }
            while comments.last == "" { comments.removeLast() }
            cases.append(Case(comments: comments, command: line, expected: expected, line: index + 1))
            comments = []
            index = cursor
        }
        while comments.last == "" { comments.removeLast() }
        trailer = comments
    }

    /// The script as text, with `outputs[i]` in place of case i's expected output.
    func render(outputs: [[String]]) -> String {
        var text = ""
        for (position, item) in cases.enumerated() {
            if position > 0 { text += "\n" }
            for comment in item.comments { text += comment + "\n" }
            text += item.command + "\n----\n"
            for line in outputs[position] { text += line + "\n" }
        }
        if !trailer.isEmpty { text += "\n" + trailer.joined(separator: "\n") + "\n" }
        return text
    }
}
