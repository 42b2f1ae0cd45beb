import RaftCore
import RaftTestKit

/// Runs the commands of a golden script against a `MemoryCluster` and returns what each prints.
/// The commands are a reader's verbs: make a cluster, tick, campaign, propose, handle a node's
/// Ready, deliver or drop messages, cut links, and look at nodes and logs.
struct InteractionEnvironment {
    private var cluster = MemoryCluster(size: 1)
    private var preVote = true
    private var checkQuorum = true

    struct CommandError: Error, CustomStringConvertible {
        var description: String
    }

    mutating func run(_ line: String) throws(CommandError) -> [String] {
        let words = line.split(separator: " ").map(String.init)
        guard let verb = words.first else { throw CommandError(description: "empty command") }
        var arguments = Array(words.dropFirst())
        var options: [String: String] = [:]
        for word in arguments where word.contains("=") {
            let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
            options[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        arguments.removeAll { $0.contains("=") }
        let ids = arguments.compactMap { NodeID($0) }
        func node(_ position: Int = 0) throws(CommandError) -> NodeID {
            guard position < ids.count, cluster.nodes[ids[position]] != nil else {
                throw CommandError(description: "\(verb): expected the ID of a node in the cluster")
            }
            return ids[position]
        }
        func times() -> Int { Int(options["times"] ?? "") ?? 1 }

        switch verb {
        case "cluster":
            guard let size = ids.first, size > 0 else { throw CommandError(description: "cluster: expected a size") }
            (preVote, checkQuorum) = (options["prevote"] != "false", options["checkquorum"] != "false")
            cluster = MemoryCluster(size: Int(size), preVote: preVote, checkQuorum: checkQuorum)
            return lines(cluster.ids.map { cluster.node($0).describe() })
        case "campaign":
            cluster.nodes[try node()]!.campaign()
            return ["ok"]
        case "tick":
            let id = try node()
            cluster.tick(id, times: times())
            return ["ok"]
        case "propose":
            let id = try node()
            let text = arguments.dropFirst().joined(separator: " ")
            do { try cluster.propose(id, text) } catch { return ["refused: \(error)"] }
            return ["ok"]
        case "propose-conf-change":
            let id = try node()
            guard arguments.count == 3, let kind = Self.changeKinds[arguments[1]], let target = NodeID(arguments[2]) else {
                throw CommandError(description: "propose-conf-change: expected NODE add-voter|add-learner|remove ID")
            }
            if kind != .remove, cluster.nodes[target] == nil {
                cluster.nodes[target] = RaftNode(config: config(target), storage: MemoryStorage())
            }
            do { try cluster.nodes[id]!.proposeConfChange(ConfChange(kind, nodeID: target)) } catch { return ["refused: \(error)"] }
            return ["ok"]
        case "ready":
            let id = try node()
            guard let ready = cluster.handleReady(id) else { return ["(no Ready)"] }
            return ready.describe()
        case "deliver", "drop":
            return move(verb, from: options["from"].flatMap { NodeID($0) }, to: options["to"].flatMap { NodeID($0) })
        case "stabilize":
            return stabilize()
        case "status":
            return lines((ids.isEmpty ? cluster.ids : ids).map { cluster.node($0).describe() })
        case "log":
            return (ids.isEmpty ? cluster.ids : ids).map { cluster.node($0).describeLog() }
        case "applied":
            return (ids.isEmpty ? cluster.ids : ids).map { "\($0): \(cluster.appliedTexts($0))" }
        case "isolate":
            cluster.isolate(try node())
            return ["ok"]
        case "cut":
            cluster.cut.insert([try node(0), try node(1)])
            return ["ok"]
        case "heal":
            cluster.heal()
            return ["ok"]
        default:
            throw CommandError(description: "unknown command '\(verb)'")
        }
    }

    /// One output line per line of text (a leader's description spans several).
    private func lines(_ texts: [String]) -> [String] {
        texts.flatMap { $0.split(separator: "\n").map(String.init) }
    }

    private static let changeKinds: [String: ConfChange.Kind] = ["add-voter": .addVoter, "add-learner": .addLearner, "remove": .remove]

    /// A newcomer configured as the founders were (`MemoryCluster.init`), with an empty log.
    private func config(_ id: NodeID) -> RaftConfig {
        var config = RaftConfig(id: id)
        config.preVote = preVote
        config.checkQuorum = checkQuorum
        config.randomSeed = 42
        return config
    }

    /// Delivers (or drops) the messages in flight that match, in the order they were sent.
    private mutating func move(_ verb: String, from: NodeID?, to: NodeID?) -> [String] {
        var output: [String] = []
        var kept: [Message] = []
        for message in cluster.inFlight {
            guard from.map({ $0 == message.from }) ?? true, to.map({ $0 == message.to }) ?? true else {
                kept.append(message)
                continue
            }
            if verb == "drop" {
                output.append("dropped: " + message.describe())
            } else {
                output.append((cluster.deliver(message) ? "delivered: " : "lost (link cut): ") + message.describe())
            }
        }
        cluster.inFlight = kept
        return output.isEmpty ? ["(nothing in flight)"] : output
    }

    /// Handles every Ready and delivers every message until the cluster is quiet, printing
    /// each Ready handled and each message lost to a cut link.
    private mutating func stabilize() -> [String] {
        var output: [String] = []
        for _ in 0..<100 {
            var busy = false
            for id in cluster.ids {
                guard let ready = cluster.handleReady(id) else { continue }
                busy = true
                output.append("> \(id) handles Ready")
                output += ready.describe().map { "  " + $0 }
            }
            let messages = cluster.inFlight
            cluster.inFlight = []
            for message in messages where !cluster.deliver(message) {
                output.append("> lost (link cut): " + message.describe())
            }
            if !busy && messages.isEmpty { break }
        }
        return output.isEmpty ? ["(quiet)"] : output
    }
}
