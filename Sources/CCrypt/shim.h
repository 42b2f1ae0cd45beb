// The system's libxcrypt (Debian's libcrypt-dev): bcrypt for v3 users' passwords, the same
// "$2a$" hashes etcd's Go bcrypt stores.
#include <crypt.h>
