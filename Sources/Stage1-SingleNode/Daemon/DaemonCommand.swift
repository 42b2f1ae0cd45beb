import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How each stage's binary begins (`etcd-stage1`, `etcd-stage2`, `etcd-stage3`): its flags
/// parsed, or the usage or an error printed and the process ended; `-version` answered; logging
/// set up at `-v`'s level. What follows is the stage's own.
public enum DaemonCommand {
    /// The parsed flag values, once logging is ready; exits on `-h`, `-version` or a bad flag.
    public static func begin(program: String, stage: Int, flagSet: GoFlagSet) -> [String: String] {
        let values: [String: String]
        do {
            values = try flagSet.parse(Array(CommandLine.arguments.dropFirst()))
        } catch .helpRequested {
            print(flagSet.usage(program: program))
            exit(0)
        } catch {
            FileHandleOutput.standardError("\(program): \(error)\n")
            exit(2)
        }
        if values["version"] == "true" {
            print("etcd \(V1Flags.versionText) (stage \(stage))")
            exit(0)
        }
        let level: Logger.Level = values["v"] == "true" || values["vv"] == "true" ? .debug : .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return values
    }

    /// Prints `message` after the program's name on standard error and exits with `status`.
    public static func fail(_ program: String, _ message: Any, status: Int32 = 2) -> Never {
        FileHandleOutput.standardError("\(program): \(message)\n")
        exit(status)
    }
}
