import EtcdAPI
import Foundation

/// Applying the v3 API's requests to the store, exactly as every member will (etcd's
/// applierV3backend). The store knows keys, revisions and leases; this layer knows the API: it
/// checks a request first (so a failed one changes nothing), then makes its writes at one new
/// revision and builds the answer. Reads (`range`) are here too, because transactions contain
/// them.
///
/// The store is passed `inout`, never held: a copy of the store would be paid for on every
/// write, the first change to a shared chunk of the index copying all of it.
public enum V3Applier {
    /// The outcome of one applied write: its answer and the changes watchers will see.
    public struct Applied: Sendable {
        public var response: V3Response
        public var events: [MVCCStore.Event]
        /// The revision the store is at after it (the header's revision).
        public var revision: Int64
    }

    /// Applies `request` to `store` in place. Every check that can refuse it runs before its
    /// first write (as etcd's checkRequests does), so a refused request leaves the store as it
    /// was.
    public static func apply(_ request: V3Request, to store: inout MVCCStore) -> Result<Applied, V3Error> {
        if case .asUser(let who, let inner) = request { return apply(inner, as: who, to: &store) }
        return apply(request, as: nil, to: &store)
    }

    /// `who`: the client the request came from, whose permissions are checked first; nil for
    /// the server's own requests.
    private static func apply(_ request: V3Request, as who: AuthInfo?, to store: inout MVCCStore) -> Result<Applied, V3Error> {
        // From here on, a `throw` must come before the first write (see `apply`).
        do {
            if let who {
                // etcd's API layer refuses malformed requests before any permission check.
                try validate(request)
                try V3Authorizer.authorize(request, as: who, in: store)
            }
            let writeRevision = store.nextRevision
            var events: [MVCCStore.Event] = []
            let response: V3Response
            // Out of space: nothing new goes in until the alarm is cleared (deletes and
            // compactions still do, to make room).
            if request.addsData && store.alarms.contains(where: { $0.kind == MVCCStore.Alarm.noSpace }) { throw V3Error.noSpace }
            // A member found corrupt: nothing changes until an operator has looked and disarmed
            // the alarm (etcd's applierV3Corrupt). Leases keep their time; alarms can be cleared.
            if store.alarms.contains(where: { $0.kind == MVCCStore.Alarm.corrupt }) {
                switch request {
                case .alarm, .leaseRenew: break
                default: throw V3Error.corrupt
                }
            }
            switch request {
            case .put(let put):
                try check(put, in: store)
                response = .put(self.put(put, at: writeRevision, events: &events, in: &store))
            case .deleteRange(let delete):
                guard !delete.key.isEmpty else { throw V3Error.emptyKey }
                response = .deleteRange(self.delete(delete, at: writeRevision, events: &events, in: &store))
            case .txn(let txn):
                response = .txn(try self.txn(txn, at: writeRevision, events: &events, in: &store))
            case .compact(let compaction):
                do { try store.compact(compaction.revision) } catch { throw V3Error.from(error) }
                response = .compact(Etcdserverpb_CompactionResponse())
            case .leaseGrant(let grant):
                try store.grantLease(grant.id, ttl: grant.ttl)
                var answer = Etcdserverpb_LeaseGrantResponse()
                answer.id = grant.id
                answer.ttl = grant.ttl
                response = .leaseGrant(answer)
            case .leaseRevoke(let revoke):
                events = try store.revokeLease(revoke.id)
                response = .leaseRevoke(Etcdserverpb_LeaseRevokeResponse())
            case .leaseRenew(let renew):
                guard let lease = store.leases[renew.id] else { throw V3Error.leaseNotFound }
                response = .leaseRenew(id: renew.id, ttl: lease.ttl)
            case .alarm(let request):
                response = .alarm(alarm(request, in: &store))
            case .auth(let request):
                let before = (store.auth.revision, store.auth.isEnabled)
                response = .auth(try store.auth.apply(request, as: who))
                if (store.auth.revision, store.auth.isEnabled) != before { store.backend.saveAuth(store.auth.encoded()) }
            case .asUser:
                // Only the outermost request names its sender.
                throw V3Request.damaged
            }
            return .success(Applied(response: response, events: events, revision: store.revision))
        } catch let error as V3Error {
            return .failure(error)
        } catch {
            return .failure(V3Error(code: .invalidArgument, message: "\(error)"))
        }
    }

    /// Raises or clears an alarm; the answer lists the alarms it changed, as etcd's does.
    static func alarm(_ request: Etcdserverpb_AlarmRequest, in store: inout MVCCStore) -> Etcdserverpb_AlarmResponse {
        var response = Etcdserverpb_AlarmResponse()
        let alarm = MVCCStore.Alarm(memberID: request.memberID, kind: Int32(request.alarm.rawValue))
        switch request.action {
        case .activate:
            guard request.alarm != .none else { break }
            store.alarms.insert(alarm)
            response.alarms = [alarm.message]
        case .deactivate:
            // Member 0 or alarm NONE: every member's, or every kind (etcdctl disarms all).
            let matching = store.alarms.filter {
                (request.memberID == 0 || $0.memberID == request.memberID) && (request.alarm == .none || $0.kind == alarm.kind)
            }
            store.alarms.subtract(matching)
            response.alarms = matching.sorted().map(\.message)
        default:
            response.alarms = store.alarms.sorted().map(\.message)
        }
        if request.action != .get { store.backend.saveAlarms(store.alarms.sorted()) }
        return response
    }
}

/// The store's own entry points to its API layer, so a caller holding a store writes
/// `store.apply(request)`.
extension MVCCStore {
    /// Applies `request` in place (see `V3Applier.apply`).
    public mutating func apply(_ request: V3Request) -> Result<V3Applier.Applied, V3Error> { V3Applier.apply(request, to: &self) }

    /// A Range request as etcd answers it (see `V3Applier.range`).
    public func range(_ request: Etcdserverpb_RangeRequest) throws(V3Error) -> Etcdserverpb_RangeResponse {
        try V3Applier.range(request, in: self)
    }
}

extension MVCCStore.Alarm {
    /// As `etcdserverpb.AlarmMember`.
    public var message: Etcdserverpb_AlarmMember {
        var member = Etcdserverpb_AlarmMember()
        member.memberID = memberID
        member.alarm = Etcdserverpb_AlarmType(rawValue: Int(kind)) ?? .none
        return member
    }
}
