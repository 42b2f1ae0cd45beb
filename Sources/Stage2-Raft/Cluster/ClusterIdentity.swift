import RaftCore
import RaftDisk

/// Which cluster a member belongs to, so members of different clusters never talk: a data
/// directory left from an earlier cluster, or a member founded with another
/// `--initial-cluster-token`, is refused at the peer port with a message naming the fix, rather
/// than mixing two logs.
///
/// The ID is a hash of the token and the founding members, so every founder of a cluster
/// computes the same one on its own, as etcd does. A member that joins learns it from the
/// answer to its join. It is kept in the data directory beside the log (`cluster-id`); 0 means
/// unknown (a member still joining), which is let through.
public enum ClusterIdentity {
    /// etcd's default `--initial-cluster-token`.
    public static let defaultToken = "etcd-cluster"

    /// The ID of a cluster founded by `founders` under `token`.
    public static func id(token: String, founders: [Member]) -> UInt64 {
        var text = token + "\n"
        for founder in founders.sorted(by: { $0.name < $1.name }) { text += "\(founder.name)=\(founder.peerURL)\n" }
        let hash = Member.fnv1a(Array(text.utf8))
        return hash == 0 ? 1 : hash
    }

    static func fileName(_ directory: String) -> String { directory + "/cluster-id" }
    static func memberFileName(_ directory: String) -> String { directory + "/member-id" }

    /// The ID recorded in `directory`, or 0 if none is (a data directory from before IDs, or a
    /// member that never finished joining).
    static func load(_ directory: String, fileSystem: any FileSystem = PosixFileSystem()) -> UInt64 {
        readHex(fileName(directory), fileSystem: fileSystem)
    }

    /// Records `id` in `directory`, durably.
    static func store(_ id: UInt64, in directory: String, fileSystem: any FileSystem = PosixFileSystem()) throws(StorageError) {
        try writeHex(id, to: fileName(directory), in: directory, fileSystem: fileSystem)
    }

    /// This member's own Raft ID as recorded in `directory`; 0 if none is (a data directory
    /// from before members could be added by URL: its ID is its name's).
    static func loadMemberID(_ directory: String, fileSystem: any FileSystem = PosixFileSystem()) -> UInt64 {
        readHex(memberFileName(directory), fileSystem: fileSystem)
    }

    /// Records this member's own Raft ID, durably, before its log names it.
    static func storeMemberID(_ id: UInt64, in directory: String, fileSystem: any FileSystem = PosixFileSystem()) throws(StorageError) {
        try writeHex(id, to: memberFileName(directory), in: directory, fileSystem: fileSystem)
    }

    private static func readHex(_ path: String, fileSystem: any FileSystem) -> UInt64 {
        guard let bytes = try? fileSystem.readFile(path),
            let text = String(validating: bytes, as: UTF8.self)?.split(separator: "\n").first
        else { return 0 }
        return UInt64(text, radix: 16) ?? 0
    }

    /// Written aside, synced, renamed into place, directory synced: all or nothing.
    private static func writeHex(_ id: UInt64, to path: String, in directory: String, fileSystem: any FileSystem) throws(StorageError) {
        let descriptor = try fileSystem.open(path + ".tmp", create: true)
        defer { fileSystem.close(descriptor) }
        try fileSystem.write(descriptor, Array((hex(id) + "\n").utf8), at: 0, path: path + ".tmp")
        try fileSystem.sync(descriptor, path: path + ".tmp")
        try fileSystem.rename(path + ".tmp", to: path)
        try fileSystem.syncDirectory(directory)
    }

    /// How IDs are shown: 16 hex digits, as etcd shows its cluster IDs.
    public static func hex(_ id: UInt64) -> String {
        let digits = String(id, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }

    /// The refusal both ends log when IDs differ.
    static func mismatch(local: UInt64, remote: UInt64) -> String {
        "cluster ID mismatch: this member belongs to cluster \(hex(local)), the connecting member to \(hex(remote)); one of them has a data directory left from another cluster (remove it, or start that member with -f) or was started with a different --initial-cluster-token"
    }
}
