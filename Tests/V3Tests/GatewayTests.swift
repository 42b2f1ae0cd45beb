import EtcdAPI
import Foundation
import Testing

@testable import V3

/// The gateway's reading of request bodies: a malformed one gets the words etcd's gateway
/// (Go's JSON decoder) answers, which clients see verbatim; streamed requests split as Go's
/// decoder reads them one after another.
@Suite(.timeLimit(.minutes(3))) struct GatewayTests {
    static func syntaxError(_ text: String) -> String? {
        do {
            _ = try GoJSONSyntax.check(Array(text.utf8))
            return nil
        } catch {
            return error.message
        }
    }

    @Test func syntaxErrorsAreInGosWords() {
        #expect(Self.syntaxError("xyz") == "invalid character 'x' looking for beginning of value")
        #expect(Self.syntaxError(#"{"key":"Zm9v",}"#) == "invalid character '}' looking for beginning of object key string")
        #expect(Self.syntaxError(#"{"key":"#) == "unexpected EOF")
        #expect(Self.syntaxError(#"{"key" 1}"#) == "invalid character '1' after object key")
        #expect(Self.syntaxError(#"{"key":1 "b":2}"#) == "invalid character '\"' after object key:value pair")
        #expect(Self.syntaxError("[1 2]") == "invalid character '2' after array element")
        #expect(Self.syntaxError(#"{"a":tru}"#) == "invalid character '}' in literal true (expecting 'e')")
        #expect(Self.syntaxError(#"{"a":-x}"#) == "invalid character 'x' in numeric literal")
        #expect(Self.syntaxError(#"{"a":1.}"#) == "invalid character '}' after decimal point in numeric literal")
        #expect(Self.syntaxError("{\"a\":\"\\q\"}") == "invalid character 'q' in string escape code")
        #expect(Self.syntaxError("{\"a\":\"\u{01}\"}") == "invalid character '\\x01' in string literal")
        // Only the first value is read, as Go's decoder reads it.
        #expect(Self.syntaxError(#"{"key":"Zm9v"} trailing"#) == nil)
        #expect(Self.syntaxError(#"{"a":[1,2.5e-3,true,null,{"b":"c"}]}"#) == nil)
    }

    @Test func aBodyThatIsNotAnObjectIsRefusedAsGoRefusesIt() throws {
        #expect(throws: Never.self) { try Gateway.decode(Array("null".utf8), as: Etcdserverpb_RangeRequest.self) }
        do {
            _ = try Gateway.decode(Array("[1]".utf8), as: Etcdserverpb_RangeRequest.self)
            Issue.record("an array was taken for a request")
        } catch {
            #expect(error.message == "json: cannot unmarshal array into Go value of type map[string]json.RawMessage")
            #expect(error.code == .invalidArgument)
        }
        let request = try Gateway.decode(Array(#"{"key":"Zm9v","unknown":1} {"key":"YmFy"}"#.utf8), as: Etcdserverpb_RangeRequest.self)
        #expect(request.key == Data("foo".utf8))
    }

    @Test func streamedRequestsAreReadOneAfterAnother() throws {
        let requests = try Gateway.decodeSequence(Array(#"{"key":"Zm9v"} {"key":"e30="}"#.utf8), as: Etcdserverpb_RangeRequest.self)
        #expect(requests.count == 2)
    }
}
