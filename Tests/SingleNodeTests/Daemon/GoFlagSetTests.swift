import Testing
import SingleNode

@Suite("Go-style flags", .timeLimit(.minutes(3)))
struct GoFlagSetTests {
    let flags = V1Flags.flagSet

    @Test("One or two dashes, = or a separate value, and Boolean switches", arguments: [
        (["-n", "node1"], ["n": "node1"]),
        (["--name=node1"], ["n": "node1"]),
        (["-name", "node1", "-maxsize=3"], ["n": "node1", "maxsize": "3"]),
        (["-f", "-v=false"], ["f": "true", "v": "false"]),
        (["-c", "4001", "-c", "4002"], ["c": "4002"]),
        (["-d", "x", "--"], ["d": "x"]),
    ])
    func parses(arguments: [String], expected: [String: String]) throws {
        #expect(try flags.parse(arguments) == expected)
    }

    @Test("Mistakes are reported as Go reports them")
    func errors() {
        #expect(throws: GoFlagSet.ParseError.unknownFlag("bogus")) { try flags.parse(["-bogus"]) }
        #expect(throws: GoFlagSet.ParseError.missingValue("c")) { try flags.parse(["-c"]) }
        #expect(throws: GoFlagSet.ParseError.invalidBool("f", "maybe")) { try flags.parse(["-f=maybe"]) }
        #expect(throws: GoFlagSet.ParseError.unexpectedArgument("stray")) { try flags.parse(["stray"]) }
        #expect(throws: GoFlagSet.ParseError.helpRequested) { try flags.parse(["-h"]) }
        #expect(GoFlagSet.ParseError.unknownFlag("bogus").description == "flag provided but not defined: -bogus")
    }

    @Test("The usage text lists every flag")
    func usage() {
        let text = flags.usage(program: "etcd")
        for flag in flags.flags { #expect(text.contains("-" + flag.names[0])) }
    }
}

@Suite("The original daemon's flags", .timeLimit(.minutes(3)))
struct V1FlagsTests {
    @Test("-c and -s take host:port or a bare port, as the seed's cluster example does", arguments: [
        ("4001", "127.0.0.1", 4001), ("127.0.0.1:4002", "127.0.0.1", 4002), ("0.0.0.0:80", "0.0.0.0", 80),
        ("http://10.0.0.1:4001", "10.0.0.1", 4001), (":4003", "127.0.0.1", 4003),
    ])
    func hostPort(text: String, host: String, port: Int) throws {
        let parsed = try V1Flags.hostPort(text, flag: "c")
        #expect(parsed.host == host && parsed.port == port)
    }

    @Test("Malformed addresses name the flag and an example", arguments: ["4001x", "host", "127.0.0.1:99999", ""])
    func badHostPort(text: String) {
        #expect { try V1Flags.hostPort(text, flag: "c") } throws: { error in
            "\(error)".contains("-c \(text): expected host:port")
        }
    }

    @Test("Defaults: client 4001, peer 7001, history 1024, name from the peer port")
    func defaults() throws {
        let configuration = try V1Flags.configuration(from: [:])
        #expect(configuration.clientPort == 4001)
        #expect(configuration.peerURL == "http://127.0.0.1:7001")
        #expect(configuration.advertisedClientURL == "http://127.0.0.1:4001")
        #expect(configuration.historyCapacity == 1024)
        #expect(configuration.name == "node-7001")
    }

    @Test("The seed's commands: a name from the data directory, ports from bare numbers")
    func seedCommand() throws {
        let values = try V1Flags.flagSet.parse(["-s", "7002", "-c", "4002", "-d", "nodes/node2", "-m", "10"])
        let configuration = try V1Flags.configuration(from: values)
        #expect(configuration.name == "node2")
        #expect(configuration.clientPort == 4002)
        #expect(configuration.peerURL == "http://127.0.0.1:7002")
        #expect(configuration.historyCapacity == 10)
    }

    @Test("A name must be one path segment")
    func badName() {
        #expect(throws: V1Flags.InvalidValue.self) { try V1Flags.configuration(from: ["n": "a/b"]) }
        #expect(throws: V1Flags.InvalidValue.self) { try V1Flags.configuration(from: ["m": "many"]) }
    }

    @Test("Go durations: units summed, '0' alone, and what does not fit in nanoseconds refused")
    func durations() {
        #expect(GoFlagSet.duration("1m30s") == .seconds(90))
        #expect(GoFlagSet.duration("250ms") == .milliseconds(250))
        #expect(GoFlagSet.duration("0") == .zero)
        #expect(GoFlagSet.duration("5") == nil)
        #expect(GoFlagSet.duration("3000000h") == nil)
        #expect(GoFlagSet.duration("") == nil)
    }
}
