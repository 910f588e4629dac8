/*
 * schema: memberlinkd's database: the migrations in agent/sql/ (embedded at build time) and
 * the options the agent opens it with (db.h): WAL, synchronous=FULL, foreign keys, WAL
 * checkpoints in the background in small steps, since a checkout's tail latency is what
 * matters.
 */
#ifndef ML_SCHEMA_H
#define ML_SCHEMA_H

#include <stddef.h>

#include "db.h"
#include "ml_err.h"

#define SCHEMA_VERSION 2

/* Opens (creating if needed) the database at path and applies pending migrations; see
 * db_open() for the results. Caller frees with db_close(). */
ml_err schema_open(const char *path, struct db **ret_db, char *errbuf, size_t errlen);

#endif
