import Raft
import SingleNode
import V3

#if canImport(Glibc)
import Glibc
import RaftDisk
#endif

/// `etcd snapshot restore FILE`: founds a member of a new cluster from a file saved with
/// `etcdctl snapshot save`, taking the same flags as etcdctl's restore (which reads only
/// etcd's own database format). Run it once per founder, then start each with the same flags.
enum SnapshotCommand {
    static let flagSet = GoFlagSet([
        .init(["n", "name"], default: "default", usage: "the member's name"),
        .init(["d", "data-dir"], default: "<name>.etcd", usage: "the new, empty, data directory"),
        .init(["initial-cluster"], usage: "name=peerURL,... of the new cluster's members"),
        .init(["initial-cluster-token"], default: "etcd-cluster", usage: "the new cluster's token"),
        .init(["initial-advertise-peer-urls"], usage: "this member's peer URL"),
    ])

    static func run(_ arguments: [String]) -> Int32 {
        guard arguments.first == "restore", arguments.count >= 2, !arguments[1].hasPrefix("-") else {
            FileHandleOutput.standardError("usage: etcd snapshot restore FILE [flags]\n\n" + flagSet.usage(program: "etcd snapshot restore FILE"))
            return 2
        }
        let path = arguments[1]
        do {
            var values = try flagSet.parse(Array(arguments.dropFirst(2)))
            values["n"] = values["n"] ?? "default"
            if values["initial-advertise-peer-urls"] == nil && values["initial-cluster"] == nil {
                values["initial-advertise-peer-urls"] = "http://127.0.0.1:2380"
            }
            let configuration = try DaemonConfiguration.from(values)
            // Checked whole first, then read again a piece at a time: never held in memory.
            let length = try SnapshotFile.verify(path)
            let server = configuration.server
            // The v3 store's file goes where the daemon opens it (member/snap/db in etcd's layout).
            try Backup.restore(
                file: path, length: length, into: server.dataDirectory, stateFile: server.dataDirectory + "/snap/db", member: server.member,
                initialCluster: server.initialCluster, clusterToken: server.clusterToken)
            print("restored snapshot \(path) into \(server.dataDirectory) as member \(server.member.name) of a new cluster (\(max(1, server.initialCluster.count)) members)")
            return 0
        } catch {
            FileHandleOutput.standardError("etcd snapshot restore: \(error)\n")
            return 1
        }
    }
}
