import NIOCore
import NIOHTTP1

/// One complete HTTP request as the v1 API sees it.
struct V1Request: Sendable {
    var method: HTTPMethod
    var uri: String
    var contentType: String?
    var body: [UInt8]
    /// The `Host` and `Origin` headers, for `HTTPAccessControl`.
    var host: String? = nil
    var origin: String? = nil
}

/// One HTTP answer. `contentType` nil sends none (the original's 405 and redirects).
struct V1Reply: Sendable, Equatable {
    var status: HTTPResponseStatus
    var body: [UInt8] = []
    var contentType: String? = V1API.textPlain
    var location: String? = nil

    static func error(_ error: StoreError) -> V1Reply {
        V1Reply(status: V1API.status(for: error.code), body: V1JSON.encode(error))
    }

    static func text(_ text: String, status: HTTPResponseStatus = .ok) -> V1Reply {
        V1Reply(status: status, body: Array(text.utf8))
    }
}

/// An answer from an endpoint another stage adds to the client port.
public struct ExtraHTTPReply: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public init(status: Int = 200, contentType: String, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// A request to an endpoint another stage adds: its method, decoded path and raw query.
public struct ExtraHTTPRequest: Sendable {
    public var method: String
    public var path: String
    /// The text after `?`, undecoded; nil without one.
    public var query: Substring?

    public init(method: String, path: String, query: Substring?) {
        self.method = method
        self.path = path
        self.query = query
    }

    /// The values of one query parameter, percent-decoded, in order (`exclude=A&exclude=B`).
    public func queryValues(_ name: String) -> [String] {
        guard let query else { return [] }
        return query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard percentDecode(parts[0].utf8, plusIsSpace: true) == name else { return nil }
            return parts.count > 1 ? percentDecode(parts[1].utf8, plusIsSpace: true) ?? "" : ""
        }
    }
}

/// Endpoints another stage adds to the client port: for a request it serves, its answer (a
/// future: a health check may wait for the cluster), or nil to leave the request to the v1 API.
public typealias ExtraHTTPRoutes = @Sendable (_ request: ExtraHTTPRequest, _ eventLoop: any EventLoop) -> EventLoopFuture<ExtraHTTPReply>?

/// The routes and rules of the v1 client API, free of connection handling.
struct V1API: Sendable {
    /// What the original sent for every body: Go sniffed its JSON as plain text.
    static let textPlain = "text/plain; charset=utf-8"
    /// The text at `/version`: the v1 API this server speaks.
    static let versionText = "etcd v0.1.2"

    let backend: any V1Backend
    /// Endpoints a later stage adds (the daemon's /health, /metrics, etcd 3's /version),
    /// asked first.
    var extraRoutes: ExtraHTTPRoutes? = nil
    /// etcd 3's host and CORS rules (the daemon's); nil for the original's behaviour.
    var access: HTTPAccessControl? = nil

    /// How a request is answered: at once, or later (a write in flight, a watch) with a way to
    /// withdraw if the client leaves first.
    enum Handling {
        case now(V1Reply)
        case later(EventLoopFuture<V1Reply>, cancel: (@Sendable () -> Void)?)
    }

    /// HTTP status for an error number, as v0.1.0 and the v0.2 compatibility layer sent them.
    static func status(for code: ErrorCode) -> HTTPResponseStatus {
        switch code.rawValue {
        case 100: .notFound
        case 300..<400: .internalServerError
        default: .badRequest
        }
    }

    func handle(_ request: V1Request, on eventLoop: any EventLoop) -> Handling {
        guard let access else { return route(request, on: eventLoop) }
        if let refusal = access.refusal(hostHeader: request.host) { return .now(refusal) }
        // A browser's preflight: answered here, as etcd answers it, whatever the path. (The
        // CORS headers themselves are added to every answer by the connection handler.)
        if request.method == .OPTIONS { return .now(V1Reply(status: .ok, contentType: nil)) }
        return route(request, on: eventLoop)
    }

    private func route(_ request: V1Request, on eventLoop: any EventLoop) -> Handling {
        let parts = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let query = parts.count > 1 ? parts[1] : nil
        guard let path = percentDecode(parts[0].utf8, plusIsSpace: false) else {
            return .now(.error(StoreError(.invalidField, cause: "the URL path is not valid percent-encoded UTF-8")))
        }
        // Go's ServeMux redirected a path with `//`, `.` or `..` to its clean form, which hid
        // the mistake (and curl had usually cleaned it already); this server says what is wrong.
        if !Self.goCleanPath(path).isByteEqual(to: path) {
            return .now(.error(StoreError(
                .invalidField, cause: "the path \(path) has empty, '.' or '..' segments; send the clean key, e.g. /v1/keys/a/b")))
        }
        // The subtree roots without their slash redirect, as the original's mux did.
        if path == "/v1/keys" || path == "/v1/watch" {
            let location = path + "/" + (query.map { "?" + $0 } ?? "")
            return .now(V1Reply(status: .movedPermanently, contentType: nil, location: location))
        }
        if path.hasPrefix("/v1/keys/") {
            return keys(request, key: KeyPath.clean(path.dropFirst(8)), query: query, on: eventLoop)
        }
        if path.hasPrefix("/v1/watch/") {
            return watch(request, prefix: KeyPath.clean(path.dropFirst(9)), query: query, on: eventLoop)
        }
        if let extra = extraRoutes?(ExtraHTTPRequest(method: request.method.rawValue, path: path, query: query), eventLoop) {
            return .later(extra.map { V1Reply(status: HTTPResponseStatus(statusCode: $0.status), body: $0.body, contentType: $0.contentType) }, cancel: nil)
        }
        switch path {
        case "/machines": return .now(.text(backend.cluster().clientURLs.joined(separator: ",")))
        case "/v1/machines": return .now(.text(backend.cluster().clientURLs.joined(separator: ", ")))
        case "/leader", "/v1/leader":
            guard let leader = backend.cluster().leaderPeerURL else { return .now(.error(StoreError(.leaderElect))) }
            return .now(.text(leader))
        case "/version": return .now(.text(Self.versionText))
        case "/stats", "/v1/stats/store": return .now(V1Reply(status: .ok, body: V1JSON.encode(backend.stats())))
        default:
            var reply = V1Reply.error(StoreError(
                .invalidField, cause: "no such endpoint \(path): the v1 API serves /v1/keys/, /v1/watch/, /machines, /leader, /version and /stats"))
            reply.status = .notFound
            return .now(reply)
        }
    }

    private func keys(_ request: V1Request, key: String, query: Substring?, on eventLoop: any EventLoop) -> Handling {
        switch request.method {
        case .GET:
            let now = backend.now()
            switch backend.read(key) {
            case .success(.file(let response)): return .now(V1Reply(status: .ok, body: V1JSON.encode(response, now: now)))
            case .success(.directory(let listing)): return .now(V1Reply(status: .ok, body: V1JSON.encode(listing, now: now)))
            case .failure(let error): return .now(.error(error))
            }
        case .POST, .PUT:
            switch form(request, query: query) {
            case .failure(let error): return .now(.error(error))
            case .success(let form): return write(setCommand(key: key, form: form), path: request.uri, on: eventLoop)
            }
        case .DELETE:
            if let error = KeyStore.validate(.delete(key: key)) { return .now(.error(error)) }
            return write(.success(.delete(key: key)), path: request.uri, on: eventLoop)
        default:
            return .now(V1Reply(status: .methodNotAllowed, contentType: nil))
        }
    }

    /// Builds a set or test-and-set from the form, checking in the original's order: reserved
    /// prefix, then value, then ttl.
    private func setCommand(key: String, form: FormValues) -> Result<Command.Kind, StoreError> {
        if let error = KeyStore.validate(.set(key: key, value: "", expiration: nil)) { return .failure(error) }
        guard let value = form["value"], !value.isEmpty else { return .failure(StoreError(.valueRequired, cause: "Set")) }
        var expiration: Timestamp?
        if let ttlText = form["ttl"], !ttlText.isEmpty {
            guard let ttl = parseGoInteger(ttlText, as: Int64.self) else { return .failure(StoreError(.ttlNaN, cause: "Set")) }
            // A TTL past the year 2262 does not fit a 64-bit nanosecond clock; the original
            // wrapped around silently, this server says so.
            guard let instant = backend.now().adding(seconds: ttl) else {
                return .failure(StoreError(.ttlNaN, cause: "Set: TTL out of range"))
            }
            expiration = instant
        }
        if let prevValue = form["prevValue"] {
            return .success(.testAndSet(key: key, prevValue: prevValue, value: value, expiration: expiration))
        }
        return .success(.set(key: key, value: value, expiration: expiration))
    }

    private func write(_ command: Result<Command.Kind, StoreError>, path: String, on eventLoop: any EventLoop) -> Handling {
        let kind: Command.Kind
        switch command {
        case .failure(let error): return .now(.error(error))
        case .success(let built): kind = built
        }
        let backend = self.backend
        let requestPath = String(path.split(separator: "?", maxSplits: 1)[0])
        let future = backend.write(kind, issuedAt: backend.now(), on: eventLoop).map { outcome -> V1Reply in
            switch outcome {
            case .completed(.success(let response)):
                return V1Reply(status: .ok, body: V1JSON.encode(response, now: backend.now()))
            case .completed(.failure(let error)):
                return .error(error)
            case .redirect(let leader):
                // The original dropped the query string and expected the client to resend the
                // body, as `curl -L` does.
                return V1Reply(status: .temporaryRedirect, contentType: nil, location: leader + requestPath)
            }
        }
        return .later(future, cancel: nil)
    }

    private func watch(_ request: V1Request, prefix: String, query: Substring?, on eventLoop: any EventLoop) -> Handling {
        var index: UInt64 = 0
        switch request.method {
        case .GET:
            break
        case .POST:
            let parsed = form(request, query: query)
            guard case .success(let form) = parsed else {
                if case .failure(let error) = parsed { return .now(.error(error)) }
                return .now(.error(StoreError(.invalidForm)))
            }
            if let text = form["index"], !text.isEmpty {
                guard let value = parseGoInteger(text, as: UInt64.self) else {
                    return .now(.error(StoreError(.indexNaN, cause: "Watch From Index")))
                }
                index = value
            }
        default:
            return .now(V1Reply(status: .methodNotAllowed, contentType: nil))
        }
        let backend = self.backend
        let pending = backend.watch(prefix: prefix, fromIndex: index, on: eventLoop)
        let future = pending.result.map { result -> V1Reply in
            switch result {
            case .success(let event): V1Reply(status: .ok, body: V1JSON.encode(event, now: backend.now()))
            case .failure(let error): .error(error)
            }
        }
        return .later(future, cancel: pending.cancel)
    }

    private func form(_ request: V1Request, query: Substring?) -> Result<FormValues, StoreError> {
        let mediaType = request.contentType?.split(separator: ";").first?.trimmingSpaces.lowercased()
        if mediaType == "multipart/form-data" {
            // `curl -F value=x`: Go's FormValue read these too.
            guard let boundary = MultipartForm.boundary(contentType: request.contentType ?? ""),
                let fields = MultipartForm.parse(request.body, boundary: boundary),
                let form = FormValues(query: query, fields: fields)
            else {
                return .failure(StoreError(.invalidForm, cause: "the multipart form is malformed"))
            }
            return .success(form)
        }
        let body = mediaType == "application/x-www-form-urlencoded" ? request.body : nil
        guard let form = FormValues(query: query, body: body) else {
            return .failure(StoreError(.invalidForm, cause: "the form is not valid percent-encoded UTF-8"))
        }
        return .success(form)
    }

    /// Go's `cleanPath`: `path.Clean`, keeping a trailing slash.
    static func goCleanPath(_ path: String) -> String {
        let cleaned = KeyPath.clean(path)
        return path.hasSuffix("/") && cleaned != "/" ? cleaned + "/" : cleaned
    }

}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return text
    }
}
