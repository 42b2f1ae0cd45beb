// The system's SQLite (Debian's libsqlite3-dev), for Stage 4's on-disk backend.
#include <sqlite3.h>
