import Foundation
import NIOCore
import SingleNode

#if canImport(Glibc)
import Glibc
#endif

/// `etcd lab`: a cluster of 3 or 5 real members on loopback, started with the live view and
/// its lab controls on, for watching Raft elect, replicate and recover, and breaking it on
/// purpose. Member N (from 1) serves clients on `base + 2(N-1)` and peers on the port after;
/// the lab's own controls listen on `--control-port`. Ctrl-C stops every member; a lab in a
/// directory of its own making removes it.
enum LabCommand {
    static let flagSet = GoFlagSet([
        .init(["members"], default: "3", usage: "how many members: 3 or 5"),
        .init(["base-port"], default: "2379", usage: "the first member's client port; each next member takes the next two ports"),
        .init(["control-port"], default: "2378", usage: "the lab's own port, which the page's stop, kill and restart buttons call"),
        .init(["data-dir"], usage: "where the members keep their data and logs (default: a new directory under $TMPDIR, removed at exit)"),
        .init(["heartbeat-interval"], default: "100", usage: "milliseconds between heartbeats (slow it down to watch each one)"),
        .init(["election-timeout"], default: "1000", usage: "milliseconds without a leader before a member campaigns"),
        .init(["open"], isBool: true, usage: "open the view in a browser (xdg-open); on by default where DISPLAY or WAYLAND_DISPLAY is set"),
    ])

    static func run(_ arguments: [String]) async -> Int32 {
        let values: [String: String]
        do { values = try flagSet.parse(arguments) } catch {
            FileHandleOutput.standardError("etcd lab: \(error)\n\n" + flagSet.usage(program: "etcd lab"))
            return 2
        }
        guard let count = Int(values["members"] ?? "3"), count == 3 || count == 5 else {
            FileHandleOutput.standardError("etcd lab: --members takes 3 or 5\n")
            return 2
        }
        guard let base = Int(values["base-port"] ?? "2379"), let controlPort = Int(values["control-port"] ?? "2378"),
            base > 0, base + 2 * count < 65536, controlPort > 0, controlPort < 65536
        else {
            FileHandleOutput.standardError("etcd lab: --base-port and --control-port take port numbers\n")
            return 2
        }
        let ownsDirectory = values["data-dir"] == nil
        let directory = values["data-dir"] ?? (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/etcd-lab-\(getpid())"
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
            FileHandleOutput.standardError("etcd lab: cannot make \(directory): \(error)\n")
            return 1
        }
        let control = "http://127.0.0.1:\(controlPort)"
        let names = (1...count).map { "infra\($0)" }
        let peer = { (i: Int) in "http://127.0.0.1:\(base + 2 * i + 1)" }
        let cluster = names.enumerated().map { "\($1)=\(peer($0))" }.joined(separator: ",")
        let members = names.enumerated().map { i, name in
            let client = "http://127.0.0.1:\(base + 2 * i)"
            return LabMembers.Member(
                name: name, clientURL: client, peerURL: peer(i),
                arguments: [
                    "--name", name, "--data-dir", "\(directory)/\(name)",
                    "--listen-client-urls", client, "--advertise-client-urls", client,
                    "--listen-peer-urls", peer(i), "--initial-advertise-peer-urls", peer(i),
                    "--initial-cluster", cluster, "--initial-cluster-token", "etcd-lab",
                    "--heartbeat-interval", values["heartbeat-interval"] ?? "100", "--election-timeout", values["election-timeout"] ?? "1000",
                    "--raft-lab-control", control,
                ],
                logPath: "\(directory)/\(name).log")
        }
        let lab = LabMembers(executable: Self.executablePath(), members: members)
        let listener: any Channel
        do { listener = try await LabControlServer.start(host: "127.0.0.1", port: controlPort, members: lab) } catch {
            FileHandleOutput.standardError("etcd lab: cannot listen on 127.0.0.1:\(controlPort): \(error) (choose another with --control-port)\n")
            return 1
        }
        // A closed terminal (SIGHUP) ends the lab as Ctrl-C does, members included.
        let signals = StopSignals(SIGINT, SIGTERM, SIGHUP)
        do { try lab.startAll() } catch {
            FileHandleOutput.standardError("etcd lab: cannot start the members: \(error)\n")
            lab.stopAll()
            return 1
        }
        let view = members[0].clientURL + "/debug/raft"
        FileHandleOutput.standardOutput("""
            etcd lab: \(count) members on loopback, data and logs in \(directory)
              \(members.map { "\($0.name): clients \($0.clientURL), peers \($0.peerURL)" }.joined(separator: "\n  "))
            the live view: \(view) (any member serves it)
            the lab's controls: \(control)/members
            Ctrl-C stops the lab.

            """)
        let environment = ProcessInfo.processInfo.environment
        let onDesktop = environment["DISPLAY"] != nil || environment["WAYLAND_DISPLAY"] != nil
        if values["open"] == "true" || (values["open"] == nil && onDesktop) {
            _ = try? Process.run(URL(fileURLWithPath: "/usr/bin/env"), arguments: ["xdg-open", view])
        }
        for await _ in signals.stream { break }
        FileHandleOutput.standardOutput("etcd lab: stopping the members\n")
        lab.stopAll()
        try? await listener.close()
        if ownsDirectory { try? FileManager.default.removeItem(atPath: directory) }
        return 0
    }

    /// This very binary, to run the members with.
    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
