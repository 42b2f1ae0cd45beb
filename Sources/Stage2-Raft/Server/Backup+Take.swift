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

/// Taking a backup of a running member (`RaftServer.backup()`, for `etcdctl snapshot save`); the
/// second machine's state goes from a copy on disk to the client a piece at a time.
extension Backup {
    /// A consistent copy of this member's whole state (both stores, and who the members were),
    /// as of the last entry applied. The copies are taken on the Raft loop (the v1 store is
    /// copy-on-write; Stage 4 commits and pins its file) and written out off it, so writes
    /// carry on meanwhile. The caller reads it, then calls `discard()`.
    static func take(of server: RaftServer) async throws -> Backup {
        // A member that just installed a leader's copy of a machine's file may hold that
        // machine's state beyond the entries it has applied (it skips them as they come): a
        // backup waits until it has, so that no store in it is ahead of the index it records
        // (a cluster restored from it would skip its own new entries up to there).
        let (loop, configuration, machine) = (server.loop, server.configuration, server.machine)
        let deadline = loop.now + configuration.requestTimeout
        while try await loop.submit({ (configuration.stateMachine?.appliedThrough ?? 0) > machine.appliedIndex }).get() {
            guard loop.now < deadline else { throw ProposalError.timedOut }
            try await server.pause(.milliseconds(10))
        }
        let (store, index, term, members, copyState) = try await loop.submit {
            let (store, index) = machine.copyStore()
            return (store, index, server.node.term(at: index) ?? server.node.term, Array(server.members.values),
                    configuration.stateMachine.map { machine -> @Sendable (String) throws -> [UInt8] in
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
            let path = SpooledState.newPath(in: server.stateDirectory, "sending")
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

    private static func size(of path: String) throws(SpoolError) -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw SpoolError(operation: "stat", path: path, errno: errno) }
        return UInt64(info.st_size)
    }
}
