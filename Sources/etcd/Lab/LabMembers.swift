import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The lab's members: real `etcd` processes on loopback, each with its own data directory and
/// log file, that the lab can pause (SIGSTOP), continue (SIGCONT), kill (SIGKILL) and restart
/// with the same flags (a restart finds its data directory and rejoins as the member it was).
final class LabMembers: Sendable {
    struct Member: Sendable {
        let name: String
        let clientURL: String
        let peerURL: String
        let arguments: [String]
        let logPath: String
        var pid: Int32 = 0
        /// running, stopped, killed, or exited (status N).
        var state = "starting"
    }

    enum Failure: Error, CustomStringConvertible {
        case noSuchMember(String)
        case cannot(String)
        var description: String {
            switch self {
            case .noSuchMember(let name): "no member is named \(name)"
            case .cannot(let text): text
            }
        }
    }

    private let executable: String
    private let members: Mutex<[Member]>
    // One action at a time: a double-click must not start a member twice, nor a signal race a
    // state the reaper just set.
    private let acting = Mutex(())
    // The Process objects, by name: Foundation keeps reaping them through these.
    private let processes = Mutex<[String: Process]>([:])

    init(executable: String, members: [Member]) {
        self.executable = executable
        self.members = Mutex(members)
    }

    var snapshot: [Member] { members.withLock { $0 } }

    func startAll() throws {
        for member in snapshot { try start(member.name) }
    }

    /// Runs the member's process (again), its output appended to its log file.
    private func start(_ name: String) throws {
        guard let member = snapshot.first(where: { $0.name == name }) else { throw Failure.noSuchMember(name) }
        if !FileManager.default.fileExists(atPath: member.logPath) { _ = FileManager.default.createFile(atPath: member.logPath, contents: nil) }
        guard let log = FileHandle(forWritingAtPath: member.logPath) else { throw Failure.cannot("cannot open \(member.logPath)") }
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = member.arguments
        process.standardOutput = log
        process.standardError = log
        process.terminationHandler = { [weak self] ended in
            let pid = ended.processIdentifier
            let status = ended.terminationStatus
            let bySignal = ended.terminationReason == .uncaughtSignal
            self?.update(name) { member in
                guard member.pid == pid else { return }
                member.state = bySignal && status == SIGKILL ? "killed" : bySignal ? "killed by signal \(status)" : "exited (status \(status))"
            }
        }
        try process.run()
        processes.withLock { $0[name] = process }
        update(name) { member in
            member.pid = process.processIdentifier
            member.state = "running"
        }
    }

    private func update(_ name: String, _ change: (inout Member) -> Void) {
        members.withLock { members in
            if let position = members.firstIndex(where: { $0.name == name }) { change(&members[position]) }
        }
    }

    /// stop, continue, kill or restart the member named; returns its new state.
    func act(_ action: String, on name: String) throws -> Member {
        try acting.withLock { _ in try actAlone(action, on: name) }
    }

    private func actAlone(_ action: String, on name: String) throws -> Member {
        guard let member = snapshot.first(where: { $0.name == name }) else { throw Failure.noSuchMember(name) }
        let alive = member.state == "running" || member.state == "stopped"
        // A state set after a signal only if the same process is still there to have it.
        func signal(_ number: Int32, then state: String) throws {
            guard kill(member.pid, number) == 0 else { throw Failure.cannot("\(name) (pid \(member.pid)) is gone") }
            update(name) { if $0.pid == member.pid && ($0.state == "running" || $0.state == "stopped") { $0.state = state } }
        }
        switch action {
        case "stop":
            guard member.state == "running" else { throw Failure.cannot("\(name) is \(member.state), not running") }
            try signal(SIGSTOP, then: "stopped")
        case "continue":
            guard member.state == "stopped" else { throw Failure.cannot("\(name) is \(member.state), not stopped") }
            try signal(SIGCONT, then: "running")
        case "kill":
            guard alive else { throw Failure.cannot("\(name) is \(member.state) already") }
            guard kill(member.pid, SIGKILL) == 0 else { throw Failure.cannot("\(name) (pid \(member.pid)) is gone") }
            // The state turns to "killed" once the process is reaped; wait a moment for it.
            let deadline = Date().addingTimeInterval(2)
            while snapshot.first(where: { $0.name == name })?.state != "killed" && Date() < deadline { usleep(10_000) }
        case "restart":
            guard !alive else { throw Failure.cannot("\(name) is \(member.state): kill it first") }
            try start(name)
        default:
            throw Failure.cannot("unknown action \(action): stop, continue, kill or restart")
        }
        return snapshot.first { $0.name == name }!
    }

    /// Ends every member: continued if paused, then asked to stop, then killed if it lingers.
    func stopAll() {
        for member in snapshot where member.state == "running" || member.state == "stopped" {
            kill(member.pid, SIGCONT)
            kill(member.pid, SIGTERM)
        }
        let deadline = Date().addingTimeInterval(10)
        while snapshot.contains(where: { $0.state == "running" || $0.state == "stopped" }) && Date() < deadline { usleep(20_000) }
        for member in snapshot where member.state == "running" || member.state == "stopped" { kill(member.pid, SIGKILL) }
    }
}
