import BinaryCodec
import NIOCore
import RaftCore
import RaftDisk
import SingleNode

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Backups a new cluster can be founded from (`etcdctl snapshot save`, `etcd snapshot restore`),
/// streamed both ways: the second machine's state goes from a copy on disk to the client, and
/// from the saved file to the new member's disk, a piece at a time.
extension RaftServer {
    /// A consistent copy of this member's whole state (both stores, and who the members were),
    /// as of the last entry applied. The copies are taken on the Raft loop (the v1 store is
    /// copy-on-write; Stage 4 commits and pins its file) and written out off it, so writes
    /// carry on meanwhile. The caller reads it, then calls `discard()`.
    public func backup() async throws -> Backup {
        // A member that just installed a leader's copy of a machine's file may hold that
        // machine's state beyond the entries it has applied (it skips them as they come): a
        // backup waits until it has, so that no store in it is ahead of the index it records
        // (a cluster restored from it would skip its own new entries up to there).
        let deadline = loop.now + configuration.requestTimeout
        while try await loop.submit({ (self.configuration.stateMachine?.appliedThrough ?? 0) > self.machine.appliedIndex }).get() {
            guard loop.now < deadline else { throw ProposalError.timedOut }
            try await pause(.milliseconds(10))
        }
        let (store, index, term, members, copyState) = try await loop.submit {
            let (store, index) = self.machine.copyStore()
            return (store, index, self.node.term(at: index) ?? self.node.term, Array(self.members.values),
                    self.configuration.stateMachine.map { machine -> @Sendable (String) throws -> [UInt8] in
                        // Stage 4 copies its file and notes what the copy holds; a machine in
                        // memory gives its encoding, written out the same way (and no note).
                        if let transfer = machine.transferSource() { return transfer }
                        let encode = machine.snapshotSource()
                        return { path in
                            let writer = try FileWriter(path: path)
                            try writer.write(encode())
                            try writer.finish()
                            return []
                        }
                    })
        }.get()
        var state: (path: String, length: UInt64, note: [UInt8])?
        if let copyState {
            let path = SpooledState.newPath(in: stateDirectory, "sending")
            do {
                let note = try copyState(path)
                state = (path, try Self.size(of: path), note)
            } catch {
                unlink(path)
                throw error
            }
        }
        return Backup(index: index, term: term, v1: store.encoded(), state: state, members: members)
    }

    static func size(of path: String) throws(SpoolError) -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw SpoolError(operation: "stat", path: path, errno: errno) }
        return UInt64(info.st_size)
    }
}
