import Logging
import RaftDisk

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What every daemon built on this stage does to a member's data directory before the member
/// starts: `-f` carried out, a misplaced log refused, loose permissions reported.
public enum DataDirectory {
    /// The data directory cannot be used as configured; the text says why and what to do.
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs the checks in order: with `-f` (the original's "force new configuration", data loss
    /// by design) the log, snapshots and identity are discarded first; then a `--wal-dir` beside
    /// a log still in the data directory is refused; then each directory readable by others is
    /// reported, in etcd's words (it warns and carries on).
    public static func prepare(_ configuration: DaemonConfiguration, logger: Logger) throws(Problem) {
        let server = configuration.server
        if configuration.forceNewCluster {
            for entry in ["wal", Backup.unfinishedLog, "snap", "cluster-id", "member-id"] { removeTree(server.dataDirectory + "/" + entry) }
            if let walDirectory = server.walDirectory { removeTree(walDirectory) }
            logger.warning("-f: discarded the log and snapshots", metadata: ["data-dir": "\(server.dataDirectory)"])
        }
        if let problem = walPlacementProblem(server) { throw Problem(description: problem) }
        if access(server.dataDirectory + "/" + Backup.unfinishedLog, F_OK) == 0 && !hasLog(server.dataDirectory + "/wal") {
            throw Problem(description: "etcd snapshot restore into \(server.dataDirectory) did not finish (\(Backup.unfinishedLog) is left): run the same restore again")
        }
        for directory in [server.dataDirectory, server.walDirectory].compactMap({ $0 }) {
            if let problem = DirectoryPermission.problem(directory) { logger.warning("\(problem)") }
        }
    }

    /// Why the WAL cannot be opened where the configuration says, if it cannot: a member whose
    /// log is in `<data-dir>/wal` started with a `--wal-dir` that holds none would otherwise
    /// found a new cluster over its own data.
    public static func walPlacementProblem(_ configuration: RaftServerConfiguration) -> String? {
        guard let walDirectory = configuration.walDirectory, !hasLog(walDirectory) else { return nil }
        let inDataDirectory = configuration.dataDirectory + "/wal"
        guard hasLog(inDataDirectory) else { return nil }
        return "--wal-dir \(walDirectory) holds no log, but \(inDataDirectory) does: move the files of \(inDataDirectory) into \(walDirectory), or start without --wal-dir"
    }

    /// Whether `walDirectory` holds a log (any segment): a member that has one is not new.
    static func hasLog(_ walDirectory: String) -> Bool {
        ((try? PosixFileSystem().list(walDirectory)) ?? []).contains { $0.hasSuffix(".wal") }
    }

    static func removeTree(_ path: String) {
        if unlink(path) == 0 { return }
        guard let handle = opendir(path) else { return }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(handle)
        for name in names { removeTree(path + "/" + name) }
        rmdir(path)
    }
}
