import EtcdAPI
import Foundation
import Testing

@testable import V3

/// v3 authentication below the gRPC layer: permission ranges, the auth store's rules (etcd's,
/// error for error), the checks a write passes as it applies, tokens on an injected clock, and
/// the state kept in snapshots and in the backend file.
@Suite(.timeLimit(.minutes(3))) struct AuthTests {
    typealias TestClock = LeaseTests.TestClock

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    // MARK: Permission ranges

    @Test func aPrefixAKeyARangeAndFromKeyCoverWhatTheyName() {
        let granted = KeyPermissions([(Self.bytes("/app/"), Self.bytes("/app0")), (Self.bytes("/config"), []), (Self.bytes("/z"), [0])])
        #expect(granted.covers(key: Self.bytes("/app/x"), rangeEnd: []))
        #expect(granted.covers(key: Self.bytes("/app/"), rangeEnd: Self.bytes("/app0")))
        #expect(granted.covers(key: Self.bytes("/app/a"), rangeEnd: Self.bytes("/app/b")))
        #expect(!granted.covers(key: Self.bytes("/app/"), rangeEnd: Self.bytes("/app1")))
        #expect(!granted.covers(key: Self.bytes("/ap"), rangeEnd: []))
        #expect(granted.covers(key: Self.bytes("/config"), rangeEnd: []))
        #expect(!granted.covers(key: Self.bytes("/config2"), rangeEnd: []))
        // "/config" alone is [/config, /config\0): not the range up to /config0.
        #expect(!granted.covers(key: Self.bytes("/config"), rangeEnd: Self.bytes("/config0")))
        // From /z on: everything after, and from-key requests too.
        #expect(granted.covers(key: Self.bytes("/zzz"), rangeEnd: [0]))
        #expect(granted.covers(key: Self.bytes("/z"), rangeEnd: Self.bytes("\u{7f}")))
        #expect(!granted.covers(key: Self.bytes("/app/"), rangeEnd: [0]))
    }

    @Test func overlappingAndAdjacentGrantsJoinButAGapDoesNot() {
        let joined = KeyPermissions([(Self.bytes("a"), Self.bytes("c")), (Self.bytes("b"), Self.bytes("e")), (Self.bytes("e"), Self.bytes("g"))])
        #expect(joined.covers(key: Self.bytes("a"), rangeEnd: Self.bytes("g")))
        #expect(joined.intervals.count == 1)
        let gap = KeyPermissions([(Self.bytes("a"), Self.bytes("c")), (Self.bytes("d"), Self.bytes("g"))])
        #expect(!gap.covers(key: Self.bytes("a"), rangeEnd: Self.bytes("g")))
        #expect(gap.covers(key: Self.bytes("d"), rangeEnd: Self.bytes("f")))
        #expect(!KeyPermissions([]).covers(key: Self.bytes("a"), rangeEnd: []))
    }

    // MARK: The auth store's rules

    static func setUp() throws -> AuthStore {
        var auth = AuthStore()
        _ = try auth.apply(.userAdd(name: "root", passwordHash: [], noPassword: false), as: nil)
        _ = try auth.apply(.userAdd(name: "alice", passwordHash: [], noPassword: false), as: nil)
        _ = try auth.apply(.roleAdd("app"), as: nil)
        _ = try auth.apply(.roleGrantPermission(role: "app", .init(type: .readwrite, key: bytes("/app/"), rangeEnd: bytes("/app0"))), as: nil)
        _ = try auth.apply(.roleGrantPermission(role: "app", .init(type: .read, key: bytes("/config"), rangeEnd: [])), as: nil)
        _ = try auth.apply(.userGrantRole(user: "alice", role: "app"), as: nil)
        return auth
    }

    @Test func enablingNeedsARootUserWithTheRootRoleAndDoesNotMoveTheRevision() throws {
        var auth = AuthStore()
        #expect(throws: V3Error.rootUserNotExist) { try auth.apply(.enable, as: nil) }
        _ = try auth.apply(.userAdd(name: "root", passwordHash: [], noPassword: false), as: nil)
        #expect(throws: V3Error.rootRoleNotExist) { try auth.apply(.enable, as: nil) }
        // The root role need not exist as a role to be granted.
        _ = try auth.apply(.userGrantRole(user: "root", role: "root"), as: nil)
        let revision = auth.revision
        _ = try auth.apply(.enable, as: nil)
        #expect(auth.isEnabled && auth.revision == revision)
        _ = try auth.apply(.disable, as: AuthInfo(user: "root", revision: revision))
        #expect(!auth.isEnabled && auth.revision == revision + 1)
    }

    @Test func managingUsersAndRolesIsRootsAlone() throws {
        var auth = try Self.setUp()
        _ = try auth.apply(.userGrantRole(user: "root", role: "root"), as: nil)
        _ = try auth.apply(.enable, as: nil)
        let alice = AuthInfo(user: "alice", revision: auth.revision), root = AuthInfo(user: "root", revision: auth.revision)
        #expect(throws: V3Error.permissionDenied) { try auth.apply(.userList, as: alice) }
        #expect(throws: V3Error.userEmpty) { try auth.apply(.roleAdd("x"), as: .nobody) }
        #expect(throws: V3Error.userNotFound) { try auth.apply(.roleAdd("x"), as: AuthInfo(user: "ghost", revision: auth.revision)) }
        // One's own user and roles may be read.
        #expect(try auth.apply(.userGet("alice"), as: alice) == .user(roles: ["app"]))
        #expect(try auth.apply(.roleGet("app"), as: alice) == .permissions(auth.roles["app"]!.permissions))
        #expect(throws: V3Error.permissionDenied) { try auth.apply(.userGet("root"), as: alice) }
        #expect(throws: V3Error.invalidAuthManagement) { try auth.apply(.userDelete("root"), as: root) }
        #expect(throws: V3Error.invalidAuthManagement) { try auth.apply(.roleDelete("root"), as: root) }
        #expect(throws: V3Error.invalidAuthManagement) { try auth.apply(.userRevokeRole(user: "root", role: "root"), as: root) }
        #expect(try auth.apply(.userList, as: root) == .names(["alice", "root"]))
    }

    @Test func errorsForWhatIsMissingOrThereAlready() throws {
        var auth = try Self.setUp()
        #expect(throws: V3Error.userAlreadyExist) { try auth.apply(.userAdd(name: "alice", passwordHash: [], noPassword: false), as: nil) }
        #expect(throws: V3Error.userEmpty) { try auth.apply(.userAdd(name: "", passwordHash: [], noPassword: false), as: nil) }
        #expect(throws: V3Error.roleAlreadyExist) { try auth.apply(.roleAdd("app"), as: nil) }
        #expect(throws: V3Error.roleEmpty) { try auth.apply(.roleAdd(""), as: nil) }
        #expect(throws: V3Error.roleNotFound) { try auth.apply(.userGrantRole(user: "alice", role: "nosuch"), as: nil) }
        #expect(throws: V3Error.userNotFound) { try auth.apply(.userGrantRole(user: "nobody", role: "app"), as: nil) }
        #expect(throws: V3Error.roleNotGranted) { try auth.apply(.userRevokeRole(user: "alice", role: "root"), as: nil) }
        #expect(throws: V3Error.permissionNotGranted) { try auth.apply(.roleRevokePermission(role: "app", key: Self.bytes("/x"), rangeEnd: []), as: nil) }
        #expect(throws: V3Error.authNotEnabled) { try auth.apply(.authenticate(name: "alice", checkedRevision: auth.revision, tokenPrefix: "p"), as: nil) }
    }

    @Test func aChangeToUsersOrRolesMakesOlderCredentialsStale() throws {
        var auth = try Self.setUp()
        _ = try auth.apply(.userGrantRole(user: "root", role: "root"), as: nil)
        _ = try auth.apply(.enable, as: nil)
        let before = AuthInfo(user: "alice", revision: auth.revision)
        try auth.check(.write, key: Self.bytes("/app/x"), as: before)
        _ = try auth.apply(.roleAdd("other"), as: nil)
        #expect(throws: V3Error.authOldRevision) { try auth.check(.write, key: Self.bytes("/app/x"), as: before) }
        #expect(throws: V3Error.authOldRevision) {
            try auth.apply(.authenticate(name: "alice", checkedRevision: before.revision, tokenPrefix: "p"), as: nil)
        }
        let now = AuthInfo(user: "alice", revision: auth.revision)
        try auth.check(.read, key: Self.bytes("/config"), as: now)
        #expect(throws: V3Error.permissionDenied) { try auth.check(.write, key: Self.bytes("/config"), as: now) }
        // Deleting the role takes it from its users.
        _ = try auth.apply(.roleDelete("app"), as: nil)
        #expect(auth.users["alice"]!.roles.isEmpty)
        #expect(throws: V3Error.permissionDenied) { try auth.check(.read, key: Self.bytes("/config"), as: AuthInfo(user: "alice", revision: auth.revision)) }
    }

    // MARK: Checks as writes apply

    static func put(_ key: String, lease: Int64 = 0) -> V3Request {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data("v".utf8)
        request.lease = lease
        return .put(request)
    }

    static func enabledStore() throws -> MVCCStore {
        var store = MVCCStore()
        for request: AuthRequest in [
            .userAdd(name: "root", passwordHash: [], noPassword: false), .userGrantRole(user: "root", role: "root"),
            .userAdd(name: "alice", passwordHash: [], noPassword: false), .roleAdd("app"),
            .roleGrantPermission(role: "app", .init(type: .readwrite, key: bytes("/app/"), rangeEnd: bytes("/app0"))),
            .userGrantRole(user: "alice", role: "app"), .enable,
        ] {
            _ = try store.apply(.auth(request)).get()
        }
        return store
    }

    @Test func everyKeyATransactionCouldTouchIsCheckedNestedOnesToo() throws {
        var store = try Self.enabledStore()
        let alice = AuthInfo(user: "alice", revision: store.auth.revision)
        #expect(throws: Never.self) { try store.apply(.asUser(alice, Self.put("/app/a"))).get() }
        #expect(throws: V3Error.permissionDenied) { try store.apply(.asUser(alice, Self.put("/other"))).get() }
        #expect(throws: V3Error.userEmpty) { try store.apply(.asUser(.nobody, Self.put("/app/a"))).get() }
        // The server's own requests are not checked.
        #expect(throws: Never.self) { try store.apply(Self.put("/other")).get() }

        func op(_ key: String) -> Etcdserverpb_RequestOp {
            var op = Etcdserverpb_RequestOp()
            guard case .put(let put) = Self.put(key) else { return op }
            op.requestPut = put
            return op
        }
        var inside = Etcdserverpb_TxnRequest()
        inside.success = [op("/app/b")]
        inside.failure = [op("/app/c")]
        #expect(throws: Never.self) { try store.apply(.asUser(alice, .txn(inside))).get() }
        var failureOutside = inside
        failureOutside.failure = [op("/other")]
        #expect(throws: V3Error.permissionDenied) { try store.apply(.asUser(alice, .txn(failureOutside))).get() }
        var compareOutside = inside
        var compare = Etcdserverpb_Compare()
        compare.key = Data("/other".utf8)
        compareOutside.compare = [compare]
        #expect(throws: V3Error.permissionDenied) { try store.apply(.asUser(alice, .txn(compareOutside))).get() }
        var nested = inside
        var nestedOp = Etcdserverpb_RequestOp()
        var outsideTxn = Etcdserverpb_TxnRequest()
        outsideTxn.success = [op("/other")]
        nestedOp.requestTxn = outsideTxn
        nested.success = [nestedOp]
        #expect(throws: V3Error.permissionDenied) { try store.apply(.asUser(alice, .txn(nested))).get() }
        // Nothing refused was written.
        #expect(try store.range({ var r = Etcdserverpb_RangeRequest(); r.key = Data("/other".utf8); return r }()).kvs.map(\.value) == [Data("v".utf8)])
    }

    @Test func aLeaseWithKeysTheUserMayNotWriteCannotBeRevokedOrReused() throws {
        var store = try Self.enabledStore()
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.id = 7
        grant.ttl = 60
        _ = try store.apply(.leaseGrant(grant)).get()
        _ = try store.apply(Self.put("/other", lease: 7)).get()
        let alice = AuthInfo(user: "alice", revision: store.auth.revision)
        var revoke = Etcdserverpb_LeaseRevokeRequest()
        revoke.id = 7
        #expect(throws: V3Error.permissionDenied) { try store.apply(.asUser(alice, .leaseRevoke(revoke))).get() }
        #expect(throws: V3Error.permissionDenied) { try store.apply(.asUser(alice, Self.put("/app/x", lease: 7))).get() }
        #expect(throws: V3Error.permissionDenied) {
            var compact = Etcdserverpb_CompactionRequest()
            compact.revision = 1
            return try store.apply(.asUser(alice, .compact(compact))).get()
        }
        #expect(store.leases[7] != nil)
    }

    // MARK: Tokens, on a clock the test moves

    @Test func aTokenLivesWhileUsedAndDiesWithItsUsersPasswordOrAuth() throws {
        let clock = TestClock()
        let machine = V3StateMachine(now: { clock.now })
        machine.setTokenTTL(.seconds(300))
        var index: UInt64 = 0
        func apply(_ request: V3Request) throws -> V3Applier.Applied {
            index += 1
            return try machine.apply(request, at: index).get()
        }
        for request: AuthRequest in [
            .userAdd(name: "root", passwordHash: [], noPassword: false), .userGrantRole(user: "root", role: "root"),
            .userAdd(name: "alice", passwordHash: [], noPassword: false), .enable,
        ] { _ = try apply(.auth(request)) }
        func login(_ name: String) throws -> String {
            let revision = machine.read { $0.auth.revision }
            let applied = try apply(.auth(.authenticate(name: name, checkedRevision: revision, tokenPrefix: "abcdefghijklmnop")))
            guard case .auth(.token(let token)) = applied.response else { throw V3Error.authFailed }
            return token
        }
        let token = try login("alice")
        #expect(token == "abcdefghijklmnop.\(index)")
        #expect(try machine.identify(token: token, commonName: nil)?.user == "alice")
        // Each use restarts its time: 200 s, used, 200 s more is still alive.
        clock.advance(.seconds(200))
        #expect(try machine.identify(token: token, commonName: nil)?.user == "alice")
        clock.advance(.seconds(200))
        #expect(try machine.identify(token: token, commonName: nil)?.user == "alice")
        clock.advance(.seconds(301))
        #expect(throws: V3Error.invalidAuthToken) { try machine.identify(token: token, commonName: nil) }
        // A password change ends the user's tokens, and no other user's.
        let again = try login("alice"), roots = try login("root")
        _ = try apply(.asUser(AuthInfo(user: "root", revision: machine.read { $0.auth.revision }), .auth(.userChangePassword(name: "alice", passwordHash: []))))
        #expect(throws: V3Error.invalidAuthToken) { try machine.identify(token: again, commonName: nil) }
        #expect(try machine.identify(token: roots, commonName: nil)?.user == "root")
        // Turning auth off ends them all.
        _ = try apply(.auth(.disable))
        #expect(throws: V3Error.invalidAuthToken) { try machine.identify(token: roots, commonName: nil) }
        // Without a token, a certificate's name is the caller.
        #expect(try machine.identify(token: nil, commonName: "carol")?.user == "carol")
        #expect(try machine.identify(token: nil, commonName: nil) == nil)
    }

    @Test func aRefusedRevocationLeavesTheLeaseToExpireAndAnAllowedOneEndsItsClock() throws {
        let clock = TestClock()
        let machine = V3StateMachine(now: { clock.now })
        var index: UInt64 = 0
        func apply(_ request: V3Request) -> Result<V3Applier.Applied, V3Error> {
            index += 1
            return machine.apply(request, at: index)
        }
        for request: AuthRequest in [
            .userAdd(name: "root", passwordHash: [], noPassword: false), .userGrantRole(user: "root", role: "root"),
            .userAdd(name: "alice", passwordHash: [], noPassword: false), .enable,
        ] { _ = try apply(.auth(request)).get() }
        var grant = Etcdserverpb_LeaseGrantRequest()
        grant.id = 7
        grant.ttl = 10
        _ = try apply(.leaseGrant(grant)).get()
        _ = try apply(Self.put("/other", lease: 7)).get()
        machine.leadershipChanged(isLeader: true)
        let revision = machine.read { $0.auth.revision }
        var revoke = Etcdserverpb_LeaseRevokeRequest()
        revoke.id = 7
        #expect(throws: V3Error.permissionDenied) { try apply(.asUser(AuthInfo(user: "alice", revision: revision), .leaseRevoke(revoke))).get() }
        clock.advance(.seconds(11))
        #expect(machine.dueLeases() == [7])
        _ = try apply(.asUser(AuthInfo(user: "root", revision: revision), .leaseRevoke(revoke))).get()
        machine.leadershipChanged(isLeader: true)
        clock.advance(.seconds(11))
        #expect(machine.dueLeases().isEmpty)
    }

    @Test func withJWTALoginIsASignedTokenWhoseRevisionGoesStale() async throws {
        let (privateKey, _) = try JWTTokensTests.keys("ec")
        let machine = V3StateMachine()
        machine.useJWT(try await JWTTokens.load(JWTTokens.options("jwt,priv-key=\(privateKey),sign-method=ES256")))
        var index: UInt64 = 0
        func apply(_ request: V3Request) throws -> V3Applier.Applied {
            index += 1
            return try machine.apply(request, at: index).get()
        }
        for request: AuthRequest in [
            .userAdd(name: "root", passwordHash: [], noPassword: false), .userGrantRole(user: "root", role: "root"),
            .userAdd(name: "alice", passwordHash: [], noPassword: false), .enable,
        ] { _ = try apply(.auth(request)) }
        let revision = machine.read { $0.auth.revision }
        let applied = try apply(.auth(.authenticate(name: "alice", checkedRevision: revision, tokenPrefix: "unused")))
        guard case .auth(.token(let token)) = applied.response else { Issue.record("no token: \(applied.response)"); return }
        #expect(token.split(separator: ".").count == 3)
        #expect(try machine.identify(token: token, commonName: nil) == AuthInfo(user: "alice", revision: revision))
        _ = try apply(.auth(.roleAdd("another")))
        // Still alice, but at the old revision: her next write is refused as stale.
        let stale = try #require(try machine.identify(token: token, commonName: nil))
        #expect(throws: V3Error.authOldRevision) { try machine.apply(.asUser(stale, Self.put("/k")), at: index + 1).get() }
        #expect(throws: V3Error.invalidAuthToken) { try machine.identify(token: token + "x", commonName: nil) }
    }

    // MARK: Passwords

    @Test func bcryptHashesAreEtcdsAndCheckOnlyTheirPassword() throws {
        let hash = try Passwords.hash("secret", cost: 4)
        #expect(String(decoding: hash, as: UTF8.self).hasPrefix("$2a$04$"))
        #expect(hash.count == 60)
        #expect(Passwords.matches("secret", hash: hash))
        #expect(!Passwords.matches("Secret", hash: hash))
        #expect(try Passwords.hash("secret", cost: 4) != hash)  // a new salt each time
        // OpenBSD's published test vector, as Go's bcrypt (etcd's) checks it too.
        #expect(Passwords.matches("U*U", hash: Self.bytes("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")))
        #expect(!Passwords.matches("secret", hash: []))
        #expect(!Passwords.matches("secret", hash: Self.bytes("plain text")))
        #expect(throws: Passwords.HashError.self) { try Passwords.hash("x", cost: 3) }
    }

    // MARK: Kept with the store

    @Test func usersAndRolesSurviveASnapshotAndAReopenedFile() throws {
        let store = try Self.enabledStore()
        let restored = try MVCCStore(encoded: store.encoded())
        #expect(restored.auth == store.auth)
        #expect(restored.auth.isEnabled)

        let path = try BackendTests.directory() + "/db"
        let machine = try BackendTests.machine(path)
        var index: UInt64 = 0
        for request: AuthRequest in [
            .userAdd(name: "root", passwordHash: [], noPassword: false), .userGrantRole(user: "root", role: "root"),
            .roleAdd("app"), .roleGrantPermission(role: "app", .init(type: .write, key: Self.bytes("/a"), rangeEnd: [0])), .enable,
        ] {
            index += 1
            _ = try machine.apply(.auth(request), at: index).get()
        }
        machine.commitNow()
        let expected = machine.read { $0.auth }
        let reopened = try BackendTests.machine(path)
        #expect(reopened.read { $0.auth } == expected)
        #expect(reopened.read { $0.auth.roles["app"]?.permissions.first?.rangeEnd } == [0])
    }
}
