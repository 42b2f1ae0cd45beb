/// Just enough of `multipart/form-data` (RFC 7578) for `curl -F name=value`: named text fields.
enum MultipartForm {
    /// The `boundary` parameter of a Content-Type, unquoted.
    static func boundary(contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let parts = parameter.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingSpaces.lowercased() == "boundary" else { continue }
            var value = parts[1].trimmingSpaces
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
            return value.isEmpty ? nil : String(value)
        }
        return nil
    }

    /// The named fields, in order; nil if the body is not a well-formed multipart body or a
    /// field is not UTF-8.
    static func parse(_ body: [UInt8], boundary: String) -> [(name: String, value: String)]? {
        let delimiter = Array(("--" + boundary).utf8)
        let crlf: [UInt8] = [13, 10]
        guard let first = body.firstRange(of: delimiter) else { return nil }
        var fields: [(name: String, value: String)] = []
        var cursor = first.upperBound
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            if body[cursor...].starts(with: [45, 45]) { return fields }
            guard body[cursor...].starts(with: crlf) else { return nil }
            cursor += 2
            guard let headerEnd = body[cursor...].firstRange(of: crlf + crlf) else { return nil }
            let headers = String(decoding: body[cursor..<headerEnd.lowerBound], as: UTF8.self)
            guard let next = body[headerEnd.upperBound...].firstRange(of: crlf + delimiter) else { return nil }
            let content = body[headerEnd.upperBound..<next.lowerBound]
            if let name = fieldName(headers) {
                guard let value = String(validating: content, as: UTF8.self) else { return nil }
                fields.append((name, value))
            }
            cursor = next.upperBound
        }
    }

    /// The `name` of a `Content-Disposition: form-data; name="…"` header.
    private static func fieldName(_ headers: String) -> String? {
        for line in headers.split(separator: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
            for parameter in line.split(separator: ";").dropFirst() {
                let parts = parameter.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0].trimmingSpaces == "name" else { continue }
                var value = parts[1].trimmingSpaces
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
                return String(value)
            }
        }
        return nil
    }
}
