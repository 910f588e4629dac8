/* schema: the agent's database options and migrations; see schema.h. */
#include "schema.h"

#include <stdint.h>
#include <stdio.h>

/* Generated from the files in agent/sql (lib/sql_embed.sh). */
extern const char *const agent_migrations[];
extern const size_t agent_migrations_count;

/* Checkpoint often and keep the WAL short: a checkout's p99 is what matters (walckpt.h). */
#define SCHEMA_WAL_WAKE_BYTES (INT64_C(1) << 20)
#define SCHEMA_WAL_RESTART_BYTES (INT64_C(16) << 20)

ml_err schema_open(const char *path, struct db **ret_db, char *errbuf, size_t errlen)
{
    struct db_options opts = {.mode = DB_READWRITE,
                              .migrations = agent_migrations,
                              .nmigrations = agent_migrations_count,
                              .version = SCHEMA_VERSION,
                              .program = "memberlinkd",
                              .foreign_keys = 1,
                              .track_outcome = 1,
                              .wal_wake_bytes = SCHEMA_WAL_WAKE_BYTES,
                              .wal_restart_bytes = SCHEMA_WAL_RESTART_BYTES};
    return db_open(path, &opts, ret_db, errbuf, errlen);
}
