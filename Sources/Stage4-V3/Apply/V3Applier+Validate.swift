import EtcdAPI

extension V3Applier {
    /// What etcd's v3rpc checks refuse (`checkPutRequest`, `checkTxnRequest`, …), which need
    /// no store: so a client learns its request is malformed before whether it was allowed.
    static func validate(_ request: V3Request) throws(V3Error) {
        func validate(_ put: Etcdserverpb_PutRequest) throws(V3Error) {
            guard !put.key.isEmpty else { throw V3Error.emptyKey }
            if put.ignoreValue && !put.value.isEmpty { throw V3Error.valueProvided }
            if put.ignoreLease && put.lease != 0 { throw V3Error.leaseProvided }
        }
        func validate(_ txn: Etcdserverpb_TxnRequest) throws(V3Error) {
            for compare in txn.compare where compare.key.isEmpty { throw V3Error.emptyKey }
            for op in txn.success + txn.failure {
                switch op.request {
                case .requestPut(let put): try validate(put)
                case .requestRange(let range): if range.key.isEmpty { throw V3Error.emptyKey }
                case .requestDeleteRange(let delete): if delete.key.isEmpty { throw V3Error.emptyKey }
                case .requestTxn(let nested): try validate(nested)
                case nil: break
                }
            }
            _ = try checkIntervals(txn.success)
            _ = try checkIntervals(txn.failure)
        }
        switch request {
        case .put(let put): try validate(put)
        case .deleteRange(let delete): if delete.key.isEmpty { throw V3Error.emptyKey }
        case .txn(let txn): try validate(txn)
        default: break
        }
    }
}
