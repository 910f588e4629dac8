/* idem: idempotency-key records; see idem.h. */
#include "idem.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

int idem_key_valid(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > IDEM_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (key[i] < '!' || key[i] > '~')
            return 0;
    return 1;
}

void idem_fingerprint(const char *method, const char *path, const char *body, size_t len,
                      uint8_t out[IDEM_HASH_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int outlen = IDEM_HASH_LEN;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, method, strlen(method) + 1); /* the NUL separates the parts */
    EVP_DigestUpdate(md, path, strlen(path) + 1);
    EVP_DigestUpdate(md, body, len);
    EVP_DigestFinal_ex(md, out, &outlen);
    EVP_MD_CTX_free(md);
}

ml_err idem_lookup(struct db *db, const char *key, const uint8_t hash[IDEM_HASH_LEN],
                   int *ret_status, char **ret_body, struct ml_refusal *r)
{
    static const char sql[] =
        "SELECT request_hash, status, response FROM idempotency WHERE idem_key = ?1";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, key);
    ml_err result;
    int rc = db_step(db, s);
    if (rc == SQLITE_DONE) {
        result = ML_NOENTRY;
    } else if (rc != SQLITE_ROW) {
        result = ML_STORAGE;
    } else if (sqlite3_column_bytes(s, 0) != IDEM_HASH_LEN ||
               memcmp(sqlite3_column_blob(s, 0), hash, IDEM_HASH_LEN) != 0) {
        result = ml_refuse(r, ML_REFUSED, 422, "idempotency_key_reused",
                           "Idempotency-Key '%s' was used for a different request", key);
    } else {
        *ret_status = sqlite3_column_int(s, 1);
        *ret_body = strdup((const char *)sqlite3_column_text(s, 2));
        result = *ret_body ? ML_OK : ML_NOMEM;
    }
    sqlite3_reset(s);
    return result;
}

ml_err idem_record(struct db *db, const char *key, const uint8_t hash[IDEM_HASH_LEN], int status,
                   const char *body, int64_t now)
{
    static const char sql[] = "INSERT INTO idempotency (idem_key, request_hash, status, "
                              "response, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
    sqlite3_stmt *s = db_stmt(db, sql);
    if (s == NULL)
        return ML_STORAGE;
    db_bind_text(db, s, 1, key);
    db_bind_blob(db, s, 2, hash, IDEM_HASH_LEN);
    db_bind_i64(db, s, 3, status);
    db_bind_text(db, s, 4, body);
    db_bind_i64(db, s, 5, now);
    int rc = db_step(db, s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? ML_OK : ML_STORAGE;
}
