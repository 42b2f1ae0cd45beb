/// The v3 API's errors, each with etcd's gRPC status code and exact message: clients (clientv3,
/// etcdctl) map errors to their typed errors by this text.
public struct V3Error: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case invalidArgument, outOfRange, notFound, failedPrecondition, unavailable, resourceExhausted, canceled, unimplemented, dataLoss, unknown
        case permissionDenied, unauthenticated
    }

    public var code: Code
    public var message: String
    public var description: String { message }

    public static let emptyKey = V3Error(code: .invalidArgument, message: "etcdserver: key is not provided")
    public static let keyNotFound = V3Error(code: .invalidArgument, message: "etcdserver: key not found")
    public static let valueProvided = V3Error(code: .invalidArgument, message: "etcdserver: value is provided")
    public static let leaseProvided = V3Error(code: .invalidArgument, message: "etcdserver: lease is provided")
    public static let tooManyOps = V3Error(code: .invalidArgument, message: "etcdserver: too many operations in txn request")
    public static let duplicateKey = V3Error(code: .invalidArgument, message: "etcdserver: duplicate key given in txn request")
    public static let compacted = V3Error(code: .outOfRange, message: "etcdserver: mvcc: required revision has been compacted")
    public static let futureRevision = V3Error(code: .outOfRange, message: "etcdserver: mvcc: required revision is a future revision")
    public static let leaseNotFound = V3Error(code: .notFound, message: "etcdserver: requested lease not found")
    public static let leaseExists = V3Error(code: .failedPrecondition, message: "etcdserver: lease already exists")
    public static let leaseTTLTooLarge = V3Error(code: .outOfRange, message: "etcdserver: too large lease TTL")
    public static let noLeader = V3Error(code: .unavailable, message: "etcdserver: no leader")
    public static let leaderChanged = V3Error(code: .unavailable, message: "etcdserver: leader changed")
    public static let stopped = V3Error(code: .unavailable, message: "etcdserver: server stopped")
    public static let timeout = V3Error(code: .unavailable, message: "etcdserver: request timed out")
    public static let requestTooLarge = V3Error(code: .invalidArgument, message: "etcdserver: request is too large")
    public static let noSpace = V3Error(code: .resourceExhausted, message: "etcdserver: mvcc: database space exceeded")
    public static let notLeader = V3Error(code: .failedPrecondition, message: "etcdserver: not leader")
    public static let unhealthy = V3Error(code: .unavailable, message: "etcdserver: unhealthy cluster")
    public static let corrupt = V3Error(code: .dataLoss, message: "etcdserver: corrupt cluster")
    /// An entry the store already holds (see `V3StateMachine.apply`); its result is not known.
    public static let appliedBefore = V3Error(code: .unavailable, message: "etcdserver: request was already applied from a snapshot; its result is unknown")
    public static let notSupportedForLearner = V3Error(code: .unavailable, message: "etcdserver: rpc not supported for learner")
    public static let badLeaderTransferee = V3Error(code: .failedPrecondition, message: "etcdserver: bad leader transferee")
    public static let memberExist = V3Error(code: .failedPrecondition, message: "etcdserver: member ID already exist")
    public static let peerURLExist = V3Error(code: .failedPrecondition, message: "etcdserver: Peer URLs already exists")
    /// etcd 3.4 declares it FailedPrecondition but maps it through a client-side error type,
    /// so it reaches clients as Unknown: matched here, as clients see it.
    public static let memberNotEnoughStarted = V3Error(
        code: .unknown, message: "etcdserver: re-configuration failed due to not enough started members")
    public static let memberBadURLs = V3Error(code: .invalidArgument, message: "etcdserver: given member URLs are invalid")
    public static let memberNotFound = V3Error(code: .notFound, message: "etcdserver: member not found")
    public static let memberNotLearner = V3Error(code: .failedPrecondition, message: "etcdserver: can only promote a learner member")
    public static let learnerNotReady = V3Error(
        code: .failedPrecondition, message: "etcdserver: can only promote a learner member which is in sync with leader")
    public static let tooManyLearners = V3Error(code: .failedPrecondition, message: "etcdserver: too many learner members in cluster")

    // Authentication's, as etcd's rpctypes words them.
    public static let rootUserNotExist = V3Error(code: .failedPrecondition, message: "etcdserver: root user does not exist")
    public static let rootRoleNotExist = V3Error(code: .failedPrecondition, message: "etcdserver: root user does not have root role")
    public static let userAlreadyExist = V3Error(code: .failedPrecondition, message: "etcdserver: user name already exists")
    public static let userEmpty = V3Error(code: .invalidArgument, message: "etcdserver: user name is empty")
    public static let userNotFound = V3Error(code: .failedPrecondition, message: "etcdserver: user name not found")
    public static let roleAlreadyExist = V3Error(code: .failedPrecondition, message: "etcdserver: role name already exists")
    public static let roleNotFound = V3Error(code: .failedPrecondition, message: "etcdserver: role name not found")
    public static let roleEmpty = V3Error(code: .invalidArgument, message: "etcdserver: role name is empty")
    public static let authFailed = V3Error(code: .invalidArgument, message: "etcdserver: authentication failed, invalid user ID or password")
    public static let permissionDenied = V3Error(code: .permissionDenied, message: "etcdserver: permission denied")
    public static let roleNotGranted = V3Error(code: .failedPrecondition, message: "etcdserver: role is not granted to the user")
    public static let permissionNotGranted = V3Error(code: .failedPrecondition, message: "etcdserver: permission is not granted to the role")
    public static let authNotEnabled = V3Error(code: .failedPrecondition, message: "etcdserver: authentication is not enabled")
    public static let invalidAuthToken = V3Error(code: .unauthenticated, message: "etcdserver: invalid auth token")
    public static let invalidAuthManagement = V3Error(code: .invalidArgument, message: "etcdserver: invalid auth management")
    public static let authOldRevision = V3Error(code: .invalidArgument, message: "etcdserver: revision of auth store is old")
    /// Not one of rpctypes' errors, so etcd sends it with code Unknown and its own words.
    public static let noPasswordUser = V3Error(code: .unknown, message: "auth: authentication failed, password was given for no password user")

    static func from(_ error: MVCCStore.ReadError) -> V3Error {
        switch error {
        case .compacted: .compacted
        case .futureRevision: .futureRevision
        }
    }
}
