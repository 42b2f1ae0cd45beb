import NIOCore
import RaftCore

/// The membership API (`MembershipService` does the work), and waiting for an index.
extension RaftServer {
    /// The members this one heard from within the health interval, itself included: who
    /// counts as connected when a membership change is checked.
    public func connectedMembers() async -> Set<NodeID> {
        (try? await loop.submit { self.membership.connected() }.get()) ?? []
    }

    /// Changes the membership, from any member: the leader checks and proposes the change,
    /// and this returns once it is applied here.
    public func changeMembership(_ request: MembershipRequest) async throws(MembershipError) -> MembershipResult {
        try await membership.change(request)
    }

    /// Waits until this member has applied `index`.
    func waitApplied(_ index: UInt64) async throws {
        try await loop.flatSubmit { () -> EventLoopFuture<Void> in
            let promise = self.loop.makePromise(of: Void.self)
            self.reads.wait(promise, for: index, applied: self.machine.appliedIndex)
            return promise.futureResult
        }.get()
    }
}
