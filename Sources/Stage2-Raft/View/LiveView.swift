import Foundation
import NIOCore
import RaftCore
import SingleNode
import Synchronization

/// The live view's side of a member: recording on the Raft loop what the page shows, this
/// member's view, the whole cluster's (asked of every member over the peer port), and the lab's
/// cut between members. Its state is confined to the Raft loop, as the server's is, but for the
/// gathered view, which pages read from their own threads.
public final class LiveView: @unchecked Sendable {
    unowned let server: RaftServer
    /// What the page shows of this member's messages and elections; nil when the view is off.
    var recorder: RaftRecorder?
    /// Peers the lab cut this member off from: Raft messages to and from them are dropped.
    var cutOff: Set<NodeID> = []
    /// The cluster's view as last gathered, for pages asking within moments of each other.
    private let gathered = Mutex<(at: NIODeadline, view: ClusterRaftView)?>(nil)

    init(server: RaftServer) {
        self.server = server
        if server.configuration.raftView != nil { recorder = RaftRecorder() }
    }

    private var configuration: RaftServerConfiguration { server.configuration }
    private var id: NodeID { server.id }
    private var members: [NodeID: Member] { server.members }

    /// A `memberQuery` whose first byte is this asks for the member's view (machines' tags are
    /// small numbers: 1 for v1, 2 for v3).
    static let viewQueryTag: UInt8 = 0xF0
    /// How long the serving member waits for another's view: a paused member must not stall
    /// the page.
    static let viewAskTimeout: TimeAmount = .milliseconds(800)

    private func viewName(_ member: NodeID) -> String {
        if member == id { return configuration.member.name }
        if let name = members[member]?.name, !name.isEmpty { return name }
        return ClusterIdentity.hex(member)
    }

    func recordForView(_ message: Message, dropped: Bool) {
        recorder?.record(message, from: viewName(message.from), to: viewName(message.to), dropped: dropped, at: RaftViewClock.now())
    }

    func observeForView() {
        let role = server.node.confState.learners.contains(id) ? "learner" : server.node.role.name
        let leader = server.node.leader
        recorder?.observe(role: role, term: server.node.term, leader: leader == 0 ? "" : viewName(leader), at: RaftViewClock.now())
    }

    /// A line in the member's timeline.
    func note(_ text: String) {
        recorder?.note(text, term: server.node.term, at: RaftViewClock.now())
    }

    /// Answers a peer's question for this member's view: read here on the Raft loop, encoded
    /// off it. A member without the view on has nothing to show (nor keys to reveal).
    func answerViewQuery(on connection: any PeerConnection) {
        guard configuration.raftView != nil else { return connection.reply(.memberAnswer(nil)) }
        let mine = memberView()
        DispatchQueue.global().async {
            connection.reply(.memberAnswer(RaftViewJSON.encode(mine)))
        }
    }

    /// This member's view; on the Raft loop.
    func memberView() -> MemberRaftView {
        server.loop.preconditionInEventLoop()
        let me = configuration.member
        let base = MemberRaftView(id: ClusterIdentity.hex(id), name: me.name, clientURL: me.clientURL, peerURL: me.peerURL)
        var names: [NodeID: String] = [:]
        for member in members.keys { names[member] = viewName(member) }
        names[id] = me.name
        var view = RaftViewBuilder.member(
            server.node, base: base, names: names, snapshotIndex: server.storage.snapshotMetadata.index, summarize: summarize)
        let now = RaftViewClock.now()
        view.messages = recorder?.recentMessages(now: now, window: 10_000, limit: 200) ?? []
        view.events = recorder?.allEvents ?? []
        view.cutOff = cutOff.map(viewName).sorted()
        view.lab = configuration.raftView?.labControlURL
        view.at = now
        return view
    }

    /// An entry in words: what the log holds, as a learner would say it.
    func summarize(_ entry: Entry) -> String {
        switch entry.kind {
        case .confChange:
            guard let change = ConfChange(encoded: entry.data) else { return "conf change (unreadable)" }
            let who = Member(encoded: change.context).map { $0.name.isEmpty ? $0.peerURL : $0.name } ?? viewName(change.nodeID)
            switch change.kind {
            case .addVoter: return "conf change add \(who)"
            case .addLearner: return "conf change add learner \(who)"
            case .remove: return "conf change remove \(viewName(change.nodeID))"
            case .update: return "conf change update \(who)"
            }
        case .normal where entry.data.isEmpty:
            return "empty (a new leader's entry)"
        case .normal:
            guard let envelope = Envelope(decoding: entry.data) else { return "(unreadable)" }
            return server.machines.summarize(envelope)
        }
    }

    /// The whole cluster: this member's view and every other member's, asked over the peer
    /// port at once; one that does not answer in time is shown unreachable. Pages asking
    /// within 200 ms of each other share one gathering.
    public func clusterView() async -> ClusterRaftView {
        let now = NIODeadline.now()
        if let cached = gathered.withLock({ $0 }), now - cached.at < .milliseconds(200) { return cached.view }
        guard let (mine, others) = try? await server.loop.submit({ () -> (MemberRaftView, [Member]) in
            (self.memberView(), self.members.values.filter { $0.id != self.id }.sorted { $0.name < $1.name })
        }).get() else {
            return ClusterRaftView(servedBy: configuration.member.name, at: RaftViewClock.now(), members: [])
        }
        var views = [mine]
        await withTaskGroup(of: MemberRaftView.self) { group in
            for member in others {
                group.addTask { await self.askView(of: member) }
            }
            for await view in group { views.append(view) }
        }
        let ordered = views.sorted { $0.name < $1.name }
        let cluster = ClusterRaftView(servedBy: mine.name, at: RaftViewClock.now(), members: ordered)
        gathered.withLock { $0 = (NIODeadline.now(), cluster) }
        return cluster
    }

    private func askView(of member: Member) async -> MemberRaftView {
        var unreachable = MemberRaftView(
            id: ClusterIdentity.hex(member.id), name: member.name.isEmpty ? ClusterIdentity.hex(member.id) : member.name,
            clientURL: member.clientURL, peerURL: member.peerURL)
        do {
            let frame = try await server.questions.ask(member.peerURL, .memberQuery([Self.viewQueryTag]), timeout: Self.viewAskTimeout)
            guard case .memberAnswer(let bytes) = frame, let bytes else { throw ProposalError.unreadable }
            return try JSONDecoder().decode(MemberRaftView.self, from: Data(bytes))
        } catch {
            unreachable.unreachable = "\(error)"
            return unreachable
        }
    }

    /// Cuts this member off from the members named (Raft messages both ways are dropped, as
    /// a network partition would); an empty list heals. Only for a member the lab started.
    public func cut(from names: [String]) async throws(LabError) -> [String] {
        guard configuration.raftView?.labControlURL != nil else {
            throw LabError(status: 403, description: "the lab controls are off: this member was not started by etcd lab")
        }
        let outcome = (try? await server.loop.submit { () -> Result<[String], LabError> in
            var chosen: Set<NodeID> = []
            for name in names {
                guard let member = self.members.values.first(where: { $0.name == name }), member.id != self.id else {
                    return .failure(LabError(status: 400, description: "no other member is named \(name)"))
                }
                chosen.insert(member.id)
            }
            self.cutOff = chosen
            let text = chosen.isEmpty ? "healed: talking to every member" : "cut off from \(chosen.map(self.viewName).sorted().joined(separator: ", "))"
            self.note(text)
            self.server.logger.notice("lab: \(text)")
            return .success(chosen.map(self.viewName).sorted())
        }.get()) ?? .failure(LabError(status: 503, description: "the member is stopping"))
        return try outcome.get()
    }
}

/// Why the lab's controls refused.
public struct LabError: Error, CustomStringConvertible {
    public var status: Int
    public var description: String
}

/// Wall-clock milliseconds: the pages of every member line their messages up by it.
public enum RaftViewClock {
    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
