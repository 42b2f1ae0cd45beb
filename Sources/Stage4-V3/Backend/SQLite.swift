import CSQLite

/// The little of SQLite's C API the backend needs: a connection, prepared statements, and
/// errors that say what failed on which file. One connection is used by one thread at a time
/// (the backend's owner holds a lock), so connections are opened without SQLite's own mutex.
final class SQLiteConnection {
    let handle: OpaquePointer
    let path: String

    init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        var handle: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            throw SQLiteError(operation: "open", path: path, code: code, message: message)
        }
        self.handle = handle
        self.path = path
        // Another connection (a snapshot copy) may hold the file for a moment.
        sqlite3_busy_timeout(handle, 10_000)
    }

    deinit { sqlite3_close_v2(handle) }

    func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard code == SQLITE_OK else {
            throw SQLiteError(operation: sql, path: path, code: code, message: message.map { String(cString: $0) } ?? "")
        }
    }

    func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw error(sql, code) }
        return SQLiteStatement(handle: statement, connection: self, sql: sql)
    }

    /// One integer a query answers (a pragma, a count).
    func integer(_ sql: String) throws(SQLiteError) -> Int64 {
        let statement = try prepare(sql)
        guard try statement.step() else { throw SQLiteError(operation: sql, path: path, code: SQLITE_ERROR, message: "no row") }
        return statement.int64(0)
    }

    func error(_ operation: String, _ code: Int32) -> SQLiteError {
        SQLiteError(operation: operation, path: path, code: code, message: String(cString: sqlite3_errmsg(handle)))
    }

    var lastInsertedRow: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Copies the whole database `from` into this one, as one transaction of this connection:
    /// readers of this file see the old contents or the new, never a mix.
    func copy(from source: SQLiteConnection) throws(SQLiteError) {
        guard let backup = sqlite3_backup_init(handle, "main", source.handle, "main") else { throw error("backup", sqlite3_errcode(handle)) }
        let code = sqlite3_backup_step(backup, -1)
        // The message before `finish`, which may replace it.
        let stepError = code == SQLITE_DONE ? nil : error("backup", code)
        let finished = sqlite3_backup_finish(backup)
        if let stepError { throw stepError }
        guard finished == SQLITE_OK else { throw error("backup", finished) }
    }
}

/// A prepared statement, reused: bind, step, read columns, reset.
final class SQLiteStatement {
    let handle: OpaquePointer
    let connection: SQLiteConnection
    let sql: String

    init(handle: OpaquePointer, connection: SQLiteConnection, sql: String) {
        self.handle = handle
        self.connection = connection
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    func bind(_ position: Int32, _ value: Int64) {
        sqlite3_bind_int64(handle, position, value)
    }

    /// A blob, copied by SQLite (it must outlive the call); nil binds NULL.
    func bind(_ position: Int32, _ bytes: [UInt8]?) {
        guard let bytes else {
            sqlite3_bind_null(handle, position)
            return
        }
        bytes.withUnsafeBytes { buffer in
            // An empty buffer may have no address; a zero-length blob is still not NULL.
            _ = sqlite3_bind_blob64(handle, position, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), UInt64(buffer.count), sqliteTransient)
        }
    }

    func bind(_ position: Int32, text: String) {
        sqlite3_bind_text(handle, position, text, -1, sqliteTransient)
    }

    /// Runs to the next row: true if there is one, false when done.
    func step() throws(SQLiteError) -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            let error = connection.error(sql, code)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Runs a statement that returns no rows, then makes it ready for the next use.
    func run() throws(SQLiteError) {
        defer { reset() }
        _ = try step()
    }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    func text(_ column: Int32) -> String? {
        sqlite3_column_text(handle, column).map { String(cString: $0) }
    }

    /// The column's bytes; nil if NULL.
    func blob(_ column: Int32) -> [UInt8]? {
        if isNull(column) { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let base = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }
}

/// SQLite's SQLITE_TRANSIENT (a macro Swift cannot import): "copy the bytes now".
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// What SQLite refused, on which file: the daemon reports it and stops rather than serve a
/// store that did not record a write.
public struct SQLiteError: Error, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32
    public var message: String

    public var description: String { "\(path): \(message) (SQLite code \(code), during: \(operation))" }
}
