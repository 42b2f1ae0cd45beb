import Raft
import SingleNode
import Testing

@Suite("The daemon's configuration from flags", .timeLimit(.minutes(3)))
struct DaemonConfigurationTests {
    private func parse(_ arguments: [String]) throws -> DaemonConfiguration {
        try DaemonConfiguration.from(DaemonConfiguration.flagSet.parse(arguments))
    }

    @Test("No flags: a one-machine cluster named default in ./default.etcd, clients on 2379 and 4001, peers on 2380")
    func noFlags() throws {
        let configuration = try parse([])
        #expect(configuration.server.member == Member(name: "default", peerURL: "http://127.0.0.1:2380", clientURL: "http://127.0.0.1:2379"))
        #expect(configuration.server.dataDirectory == "default.etcd")
        #expect(configuration.clientListeners.map(\.port) == [2379, 4001])
        #expect(configuration.server.join.isEmpty)
    }

    @Test("--initial-cluster-token names the cluster; etcd's default otherwise; alone it keeps etcd 3's defaults")
    func clusterToken() throws {
        #expect(try parse([]).server.clusterToken == "etcd-cluster")
        let configuration = try parse(["--initial-cluster-token", "prod-east"])
        #expect(configuration.server.clusterToken == "prod-east")
        #expect(configuration.clientListeners.map(\.port) == [2379, 4001])
    }

    @Test("-v1-http picks the plain or the fast HTTP path, fast by default; alone it keeps etcd 3's defaults; anything else is refused")
    func httpPath() throws {
        #expect(try parse([]).httpPath == .fast)
        let plain = try parse(["-v1-http", "plain"])
        #expect(plain.httpPath == .plain)
        #expect(plain.clientListeners.map(\.port) == [2379, 4001])
        #expect(try parse(["--v1-http=fast"]).httpPath == .fast)
        #expect(try SingleNode.V1Flags.configuration(from: ["v1-http": "plain"]).httpPath == .plain)
        #expect(throws: V1Flags.InvalidValue.self) { try parse(["-v1-http", "quick"]) }
        do {
            _ = try parse(["-v1-http", "quick"])
        } catch {
            #expect("\(error)" == "-v1-http quick: expected fast or plain")
        }
    }

    @Test("Every URL of --listen-client-urls gets a listener, as kubeadm's loopback-and-node-address pair needs")
    func severalClientURLs() throws {
        let configuration = try parse([
            "--listen-client-urls", "https://127.0.0.1:2379,https://10.0.0.5:2379, https://127.0.0.1:2379",
            "--advertise-client-urls", "https://10.0.0.5:2379",
        ])
        #expect(configuration.clientListeners.map { "\($0.host):\($0.port)" } == ["127.0.0.1:2379", "10.0.0.5:2379"])
        #expect(configuration.server.member.clientURL == "http://10.0.0.5:2379")
    }

    @Test("Listen URLs say where to bind, advertise URLs what others are told, as in a container behind a forward")
    func listenApartFromAdvertise() throws {
        let configuration = try parse([
            "--name", "node1", "--initial-cluster", "node1=http://node1.example:12380",
            "--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://10.1.2.3:12379",
            "--listen-peer-urls", "http://0.0.0.0:2380", "--initial-advertise-peer-urls", "http://node1.example:12380",
        ])
        #expect(configuration.clientListeners.map { "\($0.host):\($0.port)" } == ["0.0.0.0:2379"])
        #expect(configuration.server.member.clientURL == "http://10.1.2.3:12379")
        #expect(configuration.server.peerListenHost == "0.0.0.0" && configuration.server.peerListenPort == 2380)
        #expect(configuration.server.member.peerURL == "http://node1.example:12380")
    }

    @Test("http:// and unix:// listen URLs are marked plaintext, https:// and unixs:// are not: each URL by its own scheme")
    func schemesPerURL() throws {
        let configuration = try parse([
            "--listen-client-urls", "https://127.0.0.1:2379,http://127.0.0.1:2378,unix://plain.sock,unixs://secure.sock",
            "--advertise-client-urls", "https://127.0.0.1:2379",
        ])
        #expect(configuration.plaintextClientAddresses == ["127.0.0.1:2378", "plain.sock"])
        #expect(configuration.clientListeners.map(\.port) == [2379, 2378])
    }

    @Test("Every URL of --listen-peer-urls gets a peer listener, each by its own scheme; an advertised scheme stands")
    func severalPeerURLs() throws {
        let configuration = try parse([
            "--name", "node1", "--initial-cluster", "node1=https://10.0.0.5:2381,node2=http://10.0.0.6:2380",
            "--listen-peer-urls", "http://0.0.0.0:2380, https://0.0.0.0:2381,http://0.0.0.0:2380",
            "--initial-advertise-peer-urls", "https://10.0.0.5:2381",
        ])
        #expect(configuration.server.peerListeners == [
            PeerListener(host: "0.0.0.0", port: 2380, plaintext: true), PeerListener(host: "0.0.0.0", port: 2381, plaintext: false),
        ])
        #expect(configuration.server.member.peerURL == "https://10.0.0.5:2381")
        #expect(configuration.peerSchemeGiven)
        #expect(configuration.server.initialCluster.map(\.peerURL) == ["https://10.0.0.5:2381", "http://10.0.0.6:2380"])
        // The original flags give a bare host:port: one listener, its scheme left to Stage 3.
        let v1 = try parse(["-s", "127.0.0.1:7001"])
        #expect(v1.server.peerListeners == [PeerListener(host: "127.0.0.1", port: 7001, plaintext: false)])
        #expect(!v1.peerSchemeGiven)
    }

    @Test("unix:// and unixs:// listen URLs are socket files named as etcd names them, beside the TCP listeners")
    func unixSockets() throws {
        let configuration = try parse(["--listen-client-urls", "unix://localhost:2379,http://127.0.0.1:2379,unixs:///run/etcd.sock"])
        #expect(configuration.clientSocketPaths == ["localhost:2379", "/run/etcd.sock"])
        #expect(configuration.clientListeners.map { "\($0.host):\($0.port)" } == ["127.0.0.1:2379"])
    }

    @Test("The seed's join command: bare ports, -C, a name from the data directory")
    func seedJoin() throws {
        let configuration = try parse(["-c", "4002", "-s", "7002", "-C", "127.0.0.1:7001, 127.0.0.1:7003", "-d", "nodes/node2", "-maxsize", "5"])
        #expect(configuration.server.member.name == "node2")
        #expect(configuration.server.join == ["127.0.0.1:7001", "127.0.0.1:7003"])
        #expect(configuration.server.maxClusterSize == 5)
        #expect(configuration.clientListeners.map(\.port) == [4002])
    }

    @Test("Timing flags become the tick and the election timeout in ticks; etcd's rule of five heartbeats holds")
    func timing() throws {
        let configuration = try parse(["-heartbeat-interval", "50", "--election-timeout=600", "-snapshot-count", "500"])
        #expect(configuration.server.heartbeatInterval == .milliseconds(50))
        #expect(configuration.server.electionTicks == 12)
        #expect(configuration.server.snapshotCount == 500)
        #expect { try parse(["-heartbeat-interval", "100", "-election-timeout", "400"]) } throws: {
            "\($0)" == "--election-timeout[400ms] should be at least as 5 times as --heartbeat-interval[100ms]"
        }
        #expect(throws: V1Flags.InvalidValue.self) { try parse(["-snapshot-count", "0"]) }
    }
}

@Suite("etcd 3 flags and ETCD_ variables", .timeLimit(.minutes(3)))
struct Etcd3FlagsTests {
    private func parse(_ arguments: [String], environment: [String: String] = [:]) throws -> DaemonConfiguration {
        try DaemonConfiguration.from(DaemonConfiguration.flagSet.parse(arguments, environment: environment))
    }

    @Test("A single member from etcd 3 flags: name, data dir, listen and advertise URLs")
    func singleMember() throws {
        let configuration = try parse([
            "--name", "infra0", "--data-dir", "/var/lib/etcd", "--listen-client-urls", "http://0.0.0.0:2379",
            "--advertise-client-urls", "http://10.0.0.1:2379", "--listen-peer-urls", "http://10.0.0.1:2380",
            "--initial-cluster", "infra0=http://10.0.0.1:2380",
        ])
        #expect(configuration.server.member == Member(name: "infra0", peerURL: "http://10.0.0.1:2380", clientURL: "http://10.0.0.1:2379"))
        #expect(configuration.server.dataDirectory == "/var/lib/etcd")
        #expect(configuration.clientListeners.map { "\($0.host):\($0.port)" } == ["0.0.0.0:2379"])
        #expect(configuration.server.join.isEmpty)
    }

    @Test("--initial-cluster-state existing joins through the other members")
    func existing() throws {
        let configuration = try parse([
            "--name", "infra2", "--initial-advertise-peer-urls", "http://127.0.0.1:12380",
            "--initial-cluster", "infra0=http://127.0.0.1:2380,infra2=http://127.0.0.1:12380", "--initial-cluster-state", "existing",
        ])
        #expect(configuration.server.join == ["http://127.0.0.1:2380"])
        #expect(configuration.server.member.peerURL == "http://127.0.0.1:12380")
        #expect(configuration.clientListeners.map(\.port) == [2379])
    }

    @Test("A new cluster of several members records each exactly as --initial-cluster lists it")
    func staticCluster() throws {
        let configuration = try parse(["--name", "b", "--initial-cluster", "a=http://h:1,b=http://h:2", "--listen-client-urls", "http://h:9"])
        #expect(configuration.server.initialCluster == [
            Member(name: "a", peerURL: "http://h:1", clientURL: ""), Member(name: "b", peerURL: "http://h:2", clientURL: ""),
        ])
        #expect(configuration.server.join.isEmpty)
    }

    @Test("Mistakes name the fix: a member not in --initial-cluster, a bad state")
    func mistakes() {
        #expect { try parse(["--name", "x", "--initial-cluster", "a=http://h:1"]) } throws: {
            "\($0)".contains("couldn't find local name \"x\" in the initial cluster configuration")
        }

        #expect { try parse(["--name", "a", "--initial-cluster", "a=http://h:1", "--initial-cluster-state", "old"]) } throws: {
            "\($0)".contains("expected new or existing")
        }
    }

    @Test("ETCD_ variables fill flags not given; the command line wins")
    func environment() throws {
        let environment = ["ETCD_NAME": "fromenv", "ETCD_DATA_DIR": "/env/dir", "ETCD_SNAPSHOT_COUNT": "42"]
        let fromEnvironment = try parse([], environment: environment)
        #expect(fromEnvironment.server.member.name == "fromenv")
        #expect(fromEnvironment.server.dataDirectory == "/env/dir")
        #expect(fromEnvironment.server.snapshotCount == 42)
        let overridden = try parse(["--name", "flag"], environment: environment)
        #expect(overridden.server.member.name == "flag")
    }
}
