import NIOHTTP1

// What both v1 handlers (the plain one and the fast one) make of a request and an answer, so
// that they differ only in how they move requests and answers along a connection.

extension V1API {
    /// The API's request for an HTTP request, and the CORS headers its answer gets (etcd 3's
    /// host and CORS rules, when the daemon asks for them: worked out once per request).
    func request(head: HTTPRequestHead, body: [UInt8]) -> (V1Request, cors: [(String, String)]) {
        var request = V1Request(method: head.method, uri: head.uri, contentType: head.headers.first(name: "content-type"), body: body)
        var cors: [(String, String)] = []
        if let access {
            request.host = head.headers.first(name: "host")
            request.origin = head.headers.first(name: "origin")
            if access.refusal(hostHeader: request.host) == nil { cors = access.corsHeaders(origin: request.origin) }
        }
        return (request, cors)
    }
}

extension V1Reply {
    /// The response head for this answer: its type and redirect, the extra headers, its length,
    /// the date, and `Connection: close` when the connection ends after it.
    func responseHead(version: HTTPVersion, keepAlive: Bool, date: String, extraHeaders: [(String, String)] = []) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        if let location { headers.add(name: "Location", value: location) }
        if !extraHeaders.isEmpty { headers.add(contentsOf: extraHeaders) }
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Date", value: date)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        return HTTPResponseHead(version: version, status: status, headers: headers)
    }
}
