import EtcdAPI

/// The permission checks a client's write passes when it is applied (etcd's authApplierV3):
/// against the auth store as it is at that point of the log, the same on every member, so a
/// permission revoked before the write applies refuses it everywhere.
enum V3Authorizer {
    static func authorize(_ request: V3Request, as who: AuthInfo, in store: MVCCStore) throws(V3Error) {
        guard store.auth.isEnabled else { return }
        switch request {
        case .put(let put):
            try authorize(put, as: who, in: store)
        case .deleteRange(let delete):
            try authorize(delete, as: who, in: store)
        case .txn(let txn):
            try authorize(txn, as: who, in: store)
        case .leaseRevoke(let revoke):
            try authorizeLeaseKeys(revoke.id, as: who, in: store)
        case .compact:
            // etcd 3.4 lets any client compact, even with no credentials: here, as for the
            // other calls that change the whole store, only root may.
            try store.auth.checkAdmin(who)
        case .leaseGrant, .leaseRenew, .alarm, .auth, .asUser:
            // Auth requests check their own rights (`AuthStore.apply`).
            break
        }
    }

    private static func authorize(_ put: Etcdserverpb_PutRequest, as who: AuthInfo, in store: MVCCStore) throws(V3Error) {
        try store.auth.check(.write, key: Array(put.key), as: who)
        // A lease whose keys this user may not write is one it could not revoke: attaching a
        // key to it is refused too, as etcd does.
        try authorizeLeaseKeys(put.lease, as: who, in: store)
        if put.prevKv { try store.auth.check(.read, key: Array(put.key), as: who) }
    }

    private static func authorize(_ delete: Etcdserverpb_DeleteRangeRequest, as who: AuthInfo, in store: MVCCStore) throws(V3Error) {
        try store.auth.check(.write, key: Array(delete.key), rangeEnd: Array(delete.rangeEnd), as: who)
        if delete.prevKv { try store.auth.check(.read, key: Array(delete.key), rangeEnd: Array(delete.rangeEnd), as: who) }
    }

    /// Every compare and every operation of both branches, whichever runs: what a transaction
    /// could read or write. Nested transactions too (etcd 3.4 skips them, a hole closed here).
    static func authorize(_ txn: Etcdserverpb_TxnRequest, as who: AuthInfo, in store: MVCCStore) throws(V3Error) {
        for compare in txn.compare {
            try store.auth.check(.read, key: Array(compare.key), rangeEnd: Array(compare.rangeEnd), as: who)
        }
        for op in txn.success + txn.failure {
            switch op.request {
            case .requestRange(let range): try store.auth.check(.read, key: Array(range.key), rangeEnd: Array(range.rangeEnd), as: who)
            case .requestPut(let put): try authorize(put, as: who, in: store)
            case .requestDeleteRange(let delete): try authorize(delete, as: who, in: store)
            case .requestTxn(let nested): try authorize(nested, as: who, in: store)
            case nil: break
            }
        }
    }

    private static func authorizeLeaseKeys(_ id: Int64, as who: AuthInfo, in store: MVCCStore) throws(V3Error) {
        guard id != 0, let lease = store.leases[id] else { return }
        for key in lease.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) { try store.auth.check(.write, key: key, as: who) }
    }
}
