import Testing
import V3

@Suite("Auto compaction: etcd 3.4's schedule, driven by hand", .timeLimit(.minutes(3)))
struct AutoCompactionTests {
    @Test("Retention flags parse as etcd's: a bare number is hours in periodic mode, revisions in revision mode; 0 is off")
    func parsing() throws {
        #expect(try AutoCompaction.Policy(mode: "periodic", retention: "72") == .periodic(retention: .seconds(72 * 3600)))
        #expect(try AutoCompaction.Policy(mode: "periodic", retention: "30m") == .periodic(retention: .seconds(1800)))
        #expect(try AutoCompaction.Policy(mode: "revision", retention: "1000") == .revision(retention: 1000))
        #expect(try AutoCompaction.Policy(mode: "periodic", retention: "0") == nil)
        #expect(try AutoCompaction.Policy(mode: "revision", retention: "0") == nil)
        #expect(throws: (any Error).self) { try AutoCompaction.Policy(mode: "hourly", retention: "1") }
        #expect(throws: (any Error).self) { try AutoCompaction.Policy(mode: "revision", retention: "1h") }
        #expect(throws: (any Error).self) { try AutoCompaction.Policy(mode: "periodic", retention: "soon") }
    }

    @Test("Periodic: samples every tenth of the retention, compacts the revision one retention old once a retention has passed")
    func periodic() {
        var schedule = AutoCompaction.Schedule(.periodic(retention: .seconds(10)), now: .zero)
        #expect(schedule.interval == .seconds(1))
        var compacted: [(Int, Int64)] = []
        // One revision a second: at second t the store is at revision 100 + t.
        for second in 1...25 {
            let now = Duration.seconds(second)
            if let target = schedule.step(now: now, revision: Int64(100 + second), isLeader: true) {
                compacted.append((second, target))
                schedule.compacted(target, now: now)
            }
        }
        // First after 10 s, at what was current then (the oldest of 11 samples); then every 10 s.
        #expect(compacted.map(\.0) == [10, 20])
        #expect(compacted.map(\.1) == [101, 110])
    }

    @Test("Periodic: a long retention samples at most hourly and compacts at most every hour after the first")
    func periodicLong() {
        let day = Duration.seconds(24 * 3600)
        var schedule = AutoCompaction.Schedule(.periodic(retention: day), now: .zero)
        #expect(schedule.interval == .seconds(360))
        var times: [Duration] = []
        var now = Duration.zero
        var revision: Int64 = 1
        while now < day + .seconds(3 * 3600) {
            now += schedule.interval
            revision += 10
            if let target = schedule.step(now: now, revision: revision, isLeader: true) {
                times.append(now)
                schedule.compacted(target, now: now)
            }
        }
        #expect(times == [day, day + .seconds(3600), day + .seconds(7200), day + .seconds(10800)])
    }

    @Test("A follower samples but never compacts; leadership resumes where the samples are")
    func pausedOffLeader() {
        var schedule = AutoCompaction.Schedule(.periodic(retention: .seconds(10)), now: .zero)
        for second in 1...15 { #expect(schedule.step(now: .seconds(second), revision: Int64(second), isLeader: false) == nil) }
        #expect(schedule.step(now: .seconds(16), revision: 16, isLeader: true) == 6)
    }

    @Test("Revision: every five minutes, the current revision less the retention, never the same twice")
    func revision() {
        var schedule = AutoCompaction.Schedule(.revision(retention: 100), now: .zero)
        #expect(schedule.interval == .seconds(300))
        #expect(schedule.step(now: .seconds(300), revision: 50, isLeader: true) == nil)
        #expect(schedule.step(now: .seconds(600), revision: 250, isLeader: true) == 150)
        schedule.compacted(150, now: .seconds(600))
        #expect(schedule.step(now: .seconds(900), revision: 250, isLeader: true) == nil)
        #expect(schedule.step(now: .seconds(1200), revision: 400, isLeader: false) == nil)
        #expect(schedule.step(now: .seconds(1500), revision: 400, isLeader: true) == 300)
    }
}
