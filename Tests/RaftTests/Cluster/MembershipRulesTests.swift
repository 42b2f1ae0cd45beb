@testable import Raft
import RaftCore
import Testing

/// etcd's `--strict-reconfig-check` rules, from the leader's view alone: no cluster, no sockets.
@Suite("Membership rules", .timeLimit(.minutes(3)))
struct MembershipRulesTests {
    static let urls = [1: "http://127.0.0.1:7001", 2: "http://127.0.0.1:7002", 3: "http://127.0.0.1:7003", 4: "http://127.0.0.1:7004"]

    /// Voters 1-3 (1 leads), all started, connected and caught up; `learner` 4 if asked.
    static func rules(connected: Set<NodeID> = [1, 2, 3], learner: Bool = false, unstarted: Set<NodeID> = [], strict: Bool = true) -> MembershipRules {
        var members: [NodeID: Member] = [:]
        for id in 1...(learner ? 4 : 3) {
            let node = NodeID(id)
            members[node] = Member(name: unstarted.contains(node) ? "" : "node\(id)", peerURL: urls[id]!, clientURL: "", id: node)
        }
        return MembershipRules(
            leader: 1, members: members, confState: ConfState(voters: [1, 2, 3], learners: learner ? [4] : []), connected: connected,
            match: [1: 100, 2: 100, 3: 100, 4: 95], leaderLastIndex: 100, isStrict: strict)
    }

    static func check(_ rules: MembershipRules, _ request: MembershipRequest) -> Result<ConfChange, MembershipError> {
        rules.check(request) { _ in 42 }
    }

    @Test("Adding: a bad or taken URL is refused; a learner or a voter added by URL gets a fresh ID")
    func adding() {
        #expect(Self.check(Self.rules(), .add(peerURL: "127.0.0.1:7009", isLearner: false)) == .failure(.badURL))
        #expect(Self.check(Self.rules(), .add(peerURL: "http://host/path:1", isLearner: false)) == .failure(.badURL))
        #expect(Self.check(Self.rules(), .add(peerURL: Self.urls[2]!, isLearner: true)) == .failure(.peerURLExists))
        guard case .success(let change) = Self.check(Self.rules(), .add(peerURL: "http://127.0.0.1:7009", isLearner: true)) else {
            Issue.record("a learner was refused")
            return
        }
        #expect(change.kind == .addLearner && change.nodeID == 42)
        #expect(Member(encoded: change.context)?.peerURL == "http://127.0.0.1:7009")
        #expect(Self.check(Self.rules(learner: true), .add(peerURL: "http://127.0.0.1:7009", isLearner: true)) == .failure(.tooManyLearners))
    }

    @Test("A leader not connected to every voter adds nobody, unless the check is off")
    func addingNeedsEveryVoter() {
        #expect(Self.check(Self.rules(connected: [1, 2]), .add(peerURL: "http://127.0.0.1:7009", isLearner: false)) == .failure(.unhealthy))
        #expect((try? Self.check(Self.rules(connected: [1, 2], strict: false), .add(peerURL: "http://127.0.0.1:7009", isLearner: false)).get()) != nil)
    }

    @Test("A voter added while too few are started would leave no started quorum")
    func addingNeedsStartedQuorum() {
        // 3 voters, 1 started: 4 voters need 3 started.
        #expect(Self.check(Self.rules(unstarted: [2, 3]), .add(peerURL: "http://127.0.0.1:7009", isLearner: false)) == .failure(.notEnoughStarted))
    }

    @Test("Removing: a member that is down may go; a connected one only if the rest still make a live quorum")
    func removing() {
        #expect(Self.check(Self.rules(), .remove(id: 9)) == .failure(.notFound))
        // 2 is down: removing it leaves 1 and 3, both live.
        #expect((try? Self.check(Self.rules(connected: [1, 3]), .remove(id: 2)).get())?.kind == .remove)
        // 3 is down: removing the connected 2 would leave 1 live of 2.
        #expect(Self.check(Self.rules(connected: [1, 2]), .remove(id: 2)) == .failure(.unhealthy))
        #expect((try? Self.check(Self.rules(connected: [1, 2], strict: false), .remove(id: 2)).get()) != nil)
    }

    @Test("Promoting: only a learner, and only once it has 90% of the leader's log")
    func promoting() {
        #expect(Self.check(Self.rules(), .promote(id: 2)) == .failure(.notLearner))
        #expect((try? Self.check(Self.rules(learner: true), .promote(id: 4)).get())?.kind == .addVoter)
        var behind = Self.rules(learner: true)
        behind.match[4] = 89
        #expect(Self.check(behind, .promote(id: 4)) == .failure(.learnerNotReady))
        behind.isStrict = false
        #expect(Self.check(behind, .promote(id: 4)) == .failure(.learnerNotReady), "not ready is refused even unchecked")
    }

    @Test("Updating a peer URL: not to one another member has")
    func updating() {
        #expect(Self.check(Self.rules(), .update(id: 2, peerURL: Self.urls[3]!)) == .failure(.peerURLExists))
        guard case .success(let change) = Self.check(Self.rules(), .update(id: 2, peerURL: "http://127.0.0.1:7102")) else {
            Issue.record("the update was refused")
            return
        }
        #expect(change.kind == .update && Member(encoded: change.context)?.name == "node2")
    }
}
