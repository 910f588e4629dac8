/*
 * hq_cmd: keygen, pubkey, push, grant, revoke, bind and republish; see hq_cmd.h. This is
 * where those commands decide and print: the modules below (hq_key, hq_push, hq_pub)
 * return errors and refusals, and each is reported here once, on stderr.
 */
#include "hq_cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "hq_cli.h"
#include "hq_config.h"
#include "hq_fact.h"
#include "hq_key.h"
#include "hq_log.h"
#include "hq_pub.h"
#include "hq_push.h"
#include "hq_store.h"
#include "jsonutil.h"

#define HQ_PUSH_FILE_MAX (64L * 1024 * 1024) /* bytes of an input file */
#define HQ_PUSH_BODIES_MAX HQ_PUSH_MESSAGES_MAX
#define HQ_DB_PATH_MAX (HQ_CONFIG_PATH_MAX + 16)

/* ---- command line ----------------------------------------------------------------------- */

enum opt_id {
    O_KID,
    O_FORCE,
    O_STORE,
    O_ID,
    O_KIND,
    O_VALUE,
    O_MAX_OFF,
    O_MEMBER,
    O_CAMPAIGN,
    O_MIN_SPEND,
    O_CATEGORIES,
    O_FROM,
    O_TO,
    O_USES,
    O_OFFLINE_OK,
    O_VERSION,
    O_GUIDE,
    O_UNTIL,
    O_UNBIND,
    O_REASON,
    O_LIFT,
    O_COUNT
};

static const struct {
    const char *name;
    int takes_value;
} options[O_COUNT] = {
    [O_KID] = {"--kid", 1},
    [O_FORCE] = {"--force", 0},
    [O_STORE] = {"--store", 1},
    [O_ID] = {"--id", 1},
    [O_KIND] = {"--kind", 1},
    [O_VALUE] = {"--value", 1},
    [O_MAX_OFF] = {"--max-off", 1},
    [O_MEMBER] = {"--member", 1},
    [O_CAMPAIGN] = {"--campaign", 1},
    [O_MIN_SPEND] = {"--min-spend", 1},
    [O_CATEGORIES] = {"--categories", 1},
    [O_FROM] = {"--from", 1},
    [O_TO] = {"--to", 1},
    [O_USES] = {"--uses", 1},
    [O_OFFLINE_OK] = {"--offline-ok", 1},
    [O_VERSION] = {"--version", 1},
    [O_GUIDE] = {"--guide", 1},
    [O_UNTIL] = {"--until", 1},
    [O_UNBIND] = {"--unbind", 0},
    [O_REASON] = {"--reason", 1},
    [O_LIFT] = {"--lift", 0},
};

#define BIT(o) (1UL << (o))

struct args {
    const char *conf;
    int verbose;
    const char *pos[4];
    int npos;
    const char *val[O_COUNT];
    int seen[O_COUNT];
    const char *stores[HQ_CONFIG_STORES_MAX];
    size_t nstores;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) {
            if (i + 1 >= argc)
                return hq_cli_usage("option '%s' needs a value", arg);
            a->conf = argv[++i];
            continue;
        }
        if (strncmp(arg, "--config=", 9) == 0) {
            a->conf = arg + 9;
            continue;
        }
        if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
            a->verbose = 1;
            continue;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            if (a->npos >= 4)
                return hq_cli_usage("unexpected argument '%s'", arg);
            a->pos[a->npos++] = arg;
            continue;
        }
        int o = 0;
        size_t n = 0;
        for (; o < O_COUNT; o++) {
            n = strlen(options[o].name);
            if (strncmp(arg, options[o].name, n) == 0 &&
                (arg[n] == '\0' || (arg[n] == '=' && options[o].takes_value)))
                break;
        }
        if (o == O_COUNT)
            return hq_cli_usage("unknown option '%s'", arg);
        const char *v = NULL;
        if (options[o].takes_value) {
            if (arg[n] == '=')
                v = arg + n + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else
                return hq_cli_usage("option '%s' needs a value", options[o].name);
        }
        if (o == O_STORE) {
            if (a->nstores >= HQ_CONFIG_STORES_MAX)
                return hq_cli_usage("more than %d --store options", HQ_CONFIG_STORES_MAX);
            if (!inifile_valid_id(v, HQ_CONFIG_ID_MAX))
                return hq_cli_usage("--store '%.40s': expected 1-32 characters of [A-Za-z0-9_-]",
                                    v);
            for (size_t k = 0; k < a->nstores; k++)
                if (strcmp(a->stores[k], v) == 0)
                    return hq_cli_usage("--store %s given twice", v);
            a->stores[a->nstores++] = v;
        } else if (a->seen[o]) {
            return hq_cli_usage("option '%s' given twice", options[o].name);
        }
        a->seen[o] = 1;
        a->val[o] = v;
    }
    return HQ_EXIT_OK;
}

/* Usage error unless only options in `allowed` were given. */
static int only(const struct args *a, unsigned long allowed, const char *cmd)
{
    for (int o = 0; o < O_COUNT; o++)
        if (a->seen[o] && !(allowed & BIT(o)))
            return hq_cli_usage("option '%s' does not belong to '%s'", options[o].name, cmd);
    return HQ_EXIT_OK;
}

/* A whole number in [min, max], digits only. */
static int parse_num(const char *v, int64_t min, int64_t max, int64_t *ret)
{
    size_t n = strlen(v);
    if (n == 0 || n > 18 || strspn(v, "0123456789") != n)
        return -1;
    long long x = strtoll(v, NULL, 10);
    if (x < min || x > max)
        return -1;
    *ret = x;
    return 0;
}

/* Exactly `n` digits at *p; advances. */
static int take_digits(const char **p, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *ret = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/*
 * A time as ms since the epoch: plain digits are ms; else ISO 8601
 * YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|(+|-)HH[:MM]], UTC when no offset is given.
 */
static int parse_time(const char *v, int64_t *ret)
{
    size_t len = strlen(v);
    if (len > 0 && strspn(v, "0123456789") == len)
        return parse_num(v, 0, HQ_VERSION_MAX, ret);
    const char *p = v;
    int y, mo, d, h = 0, mi = 0, s = 0, ms = 0, oh = 0, om = 0, sign = 0;
    if (take_digits(&p, 4, &y) || *p++ != '-' || take_digits(&p, 2, &mo) || *p++ != '-' ||
        take_digits(&p, 2, &d))
        return -1;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (take_digits(&p, 2, &h) || *p++ != ':' || take_digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (take_digits(&p, 2, &s))
                return -1;
            if (*p == '.') {
                p++;
                int nd = 0;
                while (*p >= '0' && *p <= '9') {
                    if (nd < 3)
                        ms = ms * 10 + (*p - '0');
                    nd++;
                    p++;
                }
                if (nd == 0 || nd > 9)
                    return -1;
                for (; nd < 3; nd++)
                    ms *= 10;
            }
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p++ == '-' ? -1 : 1;
            if (take_digits(&p, 2, &oh))
                return -1;
            if (*p == ':')
                p++;
            if (*p != '\0' && take_digits(&p, 2, &om))
                return -1;
        }
    }
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 || s > 59 || oh > 23 || om > 59)
        return -1;
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    t -= sign * (oh * 3600 + om * 60);
    t = t * 1000 + ms;
    if (t < 0 || t > HQ_VERSION_MAX)
        return -1;
    *ret = t;
    return 0;
}

/* ---- input files ------------------------------------------------------------------------ */

struct bodies {
    cJSON **v;
    int *line; /* source line, 0 when the file is one JSON document */
    size_t n, cap;
};

static void bodies_free(struct bodies *b)
{
    for (size_t i = 0; i < b->n; i++)
        cJSON_Delete(b->v[i]);
    free(b->v);
    free(b->line);
    memset(b, 0, sizeof(*b));
}

/* Takes ownership of v. -1 when out of memory or past HQ_PUSH_BODIES_MAX (v freed). */
static int bodies_add(struct bodies *b, cJSON *v, int line)
{
    if (b->n >= HQ_PUSH_BODIES_MAX) {
        cJSON_Delete(v);
        return -1;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        cJSON **nv = realloc(b->v, cap * sizeof(*nv));
        if (nv != NULL)
            b->v = nv;
        int *nl = realloc(b->line, cap * sizeof(*nl));
        if (nl != NULL)
            b->line = nl;
        if (nv == NULL || nl == NULL) {
            cJSON_Delete(v);
            return -1;
        }
        b->cap = cap;
    }
    b->v[b->n] = v;
    b->line[b->n] = line;
    b->n++;
    return 0;
}

/* Whole file, NUL-terminated, at most HQ_PUSH_FILE_MAX bytes. Caller frees. */
static char *slurp(const char *path, size_t *ret_len, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    char *buf = NULL;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > HQ_PUSH_FILE_MAX) {
        snprintf(errbuf, errlen, "%s: not a regular file of at most %ld bytes", path,
                 HQ_PUSH_FILE_MAX);
        goto out;
    }
    size_t want = (size_t)sb.st_size;
    if ((buf = malloc(want + 1)) == NULL) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        goto out;
    }
    size_t n = fread(buf, 1, want, f);
    if (n != want || ferror(f)) {
        snprintf(errbuf, errlen, "%s: cannot read: %s", path, strerror(errno));
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n) != NULL) {
        snprintf(errbuf, errlen, "%s: holds a NUL byte: not a JSON text", path);
        free(buf);
        buf = NULL;
        goto out;
    }
    *ret_len = n;
out:
    fclose(f);
    return buf;
}

/*
 * One body from a parsed value: the object itself, or the "body" of a fact line
 * {"kind":..,"body":{..}} whose kind must be `kind`. Takes ownership of v; NULL with errbuf
 * filled when it is neither.
 */
static cJSON *unwrap(cJSON *v, const char *kind, char *errbuf, size_t errlen)
{
    if (!cJSON_IsObject(v)) {
        snprintf(errbuf, errlen, "expected a JSON object");
        cJSON_Delete(v);
        return NULL;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(v, "kind");
    cJSON *body = cJSON_GetObjectItemCaseSensitive(v, "body");
    if (cJSON_IsString(k) && cJSON_IsObject(body)) {
        if (strcmp(k->valuestring, kind) != 0) {
            snprintf(errbuf, errlen, "a %.40s fact where %s was expected", k->valuestring, kind);
            cJSON_Delete(v);
            return NULL;
        }
        cJSON *b = cJSON_DetachItemViaPointer(v, body);
        cJSON_Delete(v);
        return b;
    }
    return v;
}

/*
 * Reads bodies of `kind` from path: one JSON object, a JSON array of objects, or NDJSON
 * (one object per line; blank lines and lines starting with '#' skipped). Each object may
 * be a body or a fact line {"kind":..,"body":..}. `many` = 0 allows exactly one.
 */
static int read_bodies(const char *path, const char *kind, int many, struct bodies *out)
{
    char errbuf[512] = "";
    struct ml_refusal r = {0};
    size_t len = 0;
    char *text = slurp(path, &len, errbuf, sizeof(errbuf));
    if (text == NULL)
        return hq_cli_usage("%s", errbuf);
    int result = HQ_EXIT_USAGE;
    cJSON *doc = json_parse_bounded(text, len, &r);
    if (doc != NULL && cJSON_IsArray(doc) && many) {
        cJSON *item;
        while ((item = cJSON_DetachItemFromArray(doc, 0)) != NULL) {
            size_t i = out->n;
            cJSON *b = unwrap(item, kind, errbuf, sizeof(errbuf));
            if (b == NULL) {
                hq_cli_usage("%s: element %zu: %s", path, i + 1, errbuf);
                goto out;
            }
            if (bodies_add(out, b, 0) != 0) {
                hq_cli_usage("%s: more than %d bodies", path, HQ_PUSH_BODIES_MAX);
                goto out;
            }
        }
    } else if (doc != NULL) {
        cJSON *b = unwrap(doc, kind, errbuf, sizeof(errbuf));
        doc = NULL;
        if (b == NULL) {
            hq_cli_usage("%s: %s", path, errbuf);
            goto out;
        }
        if (bodies_add(out, b, 0) != 0) {
            hq_cli_usage("%s: out of memory", path);
            goto out;
        }
    } else {
        /* NDJSON: one value per line. */
        int lineno = 0;
        for (char *line = text; line != NULL && *line != '\0';) {
            char *nl = strchr(line, '\n');
            size_t n = nl ? (size_t)(nl - line) : strlen(line);
            lineno++;
            const char *p = line + strspn(line, " \t\r");
            if (p < line + n && *p != '#') {
                cJSON *v = json_parse_bounded(line, n, &r);
                if (v == NULL) {
                    hq_cli_usage("%s:%d: not a JSON value (a file is one JSON document, or NDJSON: "
                                 "one object per line)",
                                 path, lineno);
                    goto out;
                }
                cJSON *b = unwrap(v, kind, errbuf, sizeof(errbuf));
                if (b == NULL) {
                    hq_cli_usage("%s:%d: %s", path, lineno, errbuf);
                    goto out;
                }
                if (bodies_add(out, b, lineno) != 0) {
                    hq_cli_usage("%s: more than %d bodies", path, HQ_PUSH_BODIES_MAX);
                    goto out;
                }
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    if (out->n == 0) {
        hq_cli_usage("%s: no %s body in the file", path, kind);
        goto out;
    }
    if (!many && out->n != 1) {
        hq_cli_usage("%s: expected one %s object, found %zu", path, kind, out->n);
        goto out;
    }
    result = HQ_EXIT_OK;
out:
    cJSON_Delete(doc);
    free(text);
    return result;
}

/* ---- signing, storing, publishing ------------------------------------------------------- */

struct job {
    const char *kind;
    int campaign;         /* one campaign.upsert or campaign.withdraw, no stores */
    struct bodies bodies; /* owned */
    const char *source;   /* file name for error messages, or the command */
    const char *const *stores;
    size_t nstores;
};

static void db_path(const struct hq_config *cfg, char out[HQ_DB_PATH_MAX])
{
    snprintf(out, HQ_DB_PATH_MAX, "%s/hq.db", cfg->data_dir);
}

static int open_rw(const struct hq_config *cfg, struct hq_store **ret)
{
    char path[HQ_DB_PATH_MAX], errbuf[512];
    if (hq_make_dirs(cfg->data_dir) != 0) {
        fprintf(stderr, "memberlink-hq: %s: cannot create data_dir: %s\n", cfg->data_dir,
                strerror(errno));
        return HQ_EXIT_RUNTIME;
    }
    db_path(cfg, path);
    ml_err err = hq_store_open(path, HQ_STORE_READWRITE, ret, errbuf, sizeof(errbuf));
    if (err != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        return err == ML_CONFIG ? HQ_EXIT_USAGE : HQ_EXIT_RUNTIME;
    }
    return HQ_EXIT_OK;
}

/* Where a body came from, for an error message. */
static const char *where(const struct job *j, size_t i, char *buf, size_t len)
{
    if (j->bodies.line[i] > 0)
        snprintf(buf, len, "%s:%d", j->source, j->bodies.line[i]);
    else if (j->bodies.n > 1)
        snprintf(buf, len, "%s: element %zu", j->source, i + 1);
    else
        snprintf(buf, len, "%s", j->source);
    return buf;
}

static int refusal_exit(ml_err err)
{
    return err == ML_STORAGE || err == ML_NOMEM || err == ML_FAILURE ? HQ_EXIT_RUNTIME
                                                                     : HQ_EXIT_USAGE;
}

/* Records the broker's acknowledgements; a failure here only means a later republish. */
static void mark_published(struct hq_store *st, const struct hq_pub_item *items,
                           const char *const *ids, size_t n)
{
    int64_t now = hq_cli_wall_ms();
    if (hq_store_begin(st) != ML_OK)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (items[i].acked && hq_store_mark_published(st, ids[i], now) != ML_OK) {
            hq_store_rollback(st);
            goto fail;
        }
    if (hq_store_commit(st) != ML_OK) {
        hq_store_rollback(st);
        goto fail;
    }
    return;
fail:
    fprintf(stderr, "memberlink-hq: warning: cannot record what was published: %s\n",
            hq_store_errmsg(st));
}

/*
 * Publishes n stored messages and records the acknowledged ones. Returns the number
 * acknowledged; a failure is reported as a warning (the messages are stored).
 */
static size_t publish(const struct hq_config *cfg, struct hq_store *st, struct hq_pub_item *items,
                      const char *const *ids, size_t n, int any_campaign)
{
    char errbuf[512] = "";
    if (n == 0)
        return 0;
    ml_err err = hq_pub_send(cfg, items, n, errbuf, sizeof(errbuf));
    size_t acked = 0;
    for (size_t i = 0; i < n; i++)
        acked += items[i].acked != 0;
    if (acked > 0)
        mark_published(st, items, ids, n);
    if (err != ML_OK)
        fprintf(stderr,
                "memberlink-hq: warning: mqtt %s:%u: %s; %zu of %zu messages published. All are "
                "stored: stores fetch them over HTTP catch-up%s, and `memberlink-hq republish` "
                "sends the rest once the broker is back\n",
                cfg->mqtt_host, (unsigned)cfg->mqtt_port, errbuf, acked, n,
                any_campaign ? " (campaigns only on a first start)" : "");
    return acked;
}

static int run_job(const struct hq_config *cfg, struct job *j)
{
    int result = HQ_EXIT_RUNTIME;
    EVP_PKEY *key = NULL;
    char kid[SIGN_KID_MAX + 1], errbuf[512], loc[HQ_CONFIG_PATH_MAX + 64];
    struct hq_store *st = NULL;
    struct hq_push *p = NULL;
    struct hq_pub_item *items = NULL;
    const char **ids = NULL;
    struct ml_refusal r = {0};
    ml_err err;

    if ((err = hq_key_load(cfg->data_dir, &key, kid, errbuf, sizeof(errbuf))) != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        return err == ML_FAILURE ? HQ_EXIT_RUNTIME : HQ_EXIT_USAGE;
    }
    if ((result = open_rw(cfg, &st)) != HQ_EXIT_OK)
        goto out;
    result = HQ_EXIT_RUNTIME;
    if (hq_push_new(st, cfg->brand, key, kid, hq_cli_wall_ms(), &p) != ML_OK) {
        fprintf(stderr, "memberlink-hq: out of memory\n");
        goto out;
    }
    if (hq_push_begin(p) != ML_OK) {
        fprintf(stderr, "memberlink-hq: database: %s\n", hq_store_errmsg(st));
        goto out;
    }
    for (size_t i = 0; i < j->bodies.n; i++) {
        cJSON *body = j->bodies.v[i];
        if (j->campaign && strcmp(j->kind, "campaign.withdraw") == 0)
            err = hq_push_campaign_withdraw(
                p, cJSON_GetObjectItemCaseSensitive(body, "campaign_id")->valuestring, &r);
        else if (j->campaign)
            err = hq_push_campaign(p, body, &r);
        else
            err = hq_push_prepare(p, j->kind, body, cfg->has_phone_key ? cfg->phone_key : NULL, &r);
        for (size_t s = 0; err == ML_OK && !j->campaign && s < j->nstores; s++)
            err = hq_push_to_store(p, j->stores[s], j->kind, body, &r);
        if (err != ML_OK) {
            fprintf(stderr, "memberlink-hq: %s: %s; nothing was sent\n",
                    where(j, i, loc, sizeof(loc)), r.message[0] ? r.message : ml_strerror(err));
            result = refusal_exit(err);
            goto out;
        }
    }
    if (hq_push_commit(p) != ML_OK) {
        fprintf(stderr, "memberlink-hq: database: %s; nothing was sent\n", hq_store_errmsg(st));
        goto out;
    }

    size_t total = hq_push_count(p), n = 0, skipped = 0;
    items = calloc(total ? total : 1, sizeof(*items));
    ids = calloc(total ? total : 1, sizeof(*ids));
    if (items == NULL || ids == NULL) {
        fprintf(stderr, "memberlink-hq: out of memory (the messages are stored; run "
                        "`memberlink-hq republish`)\n");
        goto out;
    }
    for (size_t i = 0; i < total; i++) {
        struct hq_push_msg *m = hq_push_msg(p, i);
        if (m->skipped)
            continue;
        items[n] = (struct hq_pub_item){
            .topic = m->topic, .text = m->text, .len = m->len, .retain = m->retain};
        ids[n++] = m->id;
    }
    size_t acked = publish(cfg, st, items, ids, n, j->campaign);

    for (size_t i = 0, k = 0; i < total; i++) {
        const struct hq_push_msg *m = hq_push_msg(p, i);
        if (m->skipped) {
            skipped++;
            printf("skipped    %-8s %-16s %s version %" PRId64 " (already sent at this or a newer "
                   "version)\n",
                   m->store, m->kind, m->entity, m->version);
            continue;
        }
        const char *state = items[k++].acked ? "published" : "stored";
        if (m->retain)
            printf("%-10s %s (retained) %s %s version %" PRId64 " id %s\n", state, m->topic,
                   m->kind, m->entity, m->version, m->id);
        else
            printf("%-10s %-8s cursor %-6" PRId64 " %-16s %s version %" PRId64 " id %s\n", state,
                   m->store, m->cursor, m->kind, m->entity, m->version, m->id);
    }
    printf("%zu stored, %zu published, %zu skipped\n", n, acked, skipped);
    result = fflush(stdout) == 0 ? HQ_EXIT_OK : HQ_EXIT_RUNTIME;
out:
    free(items);
    free(ids);
    hq_push_free(p);
    hq_store_close(st);
    EVP_PKEY_free(key);
    return result;
}

/* --store options, else [hq] stores. */
static int pick_stores(const struct hq_config *cfg, const struct args *a, struct job *j,
                       const char **buf)
{
    if (a->nstores > 0) {
        j->stores = a->stores;
        j->nstores = a->nstores;
        return HQ_EXIT_OK;
    }
    for (size_t i = 0; i < cfg->nstores; i++)
        buf[i] = cfg->stores[i];
    j->stores = buf;
    j->nstores = cfg->nstores;
    if (j->nstores == 0)
        return hq_cli_usage("%s", "no store to send to: give --store S or set [hq] stores");
    return HQ_EXIT_OK;
}

/* ---- commands --------------------------------------------------------------------------- */

static int cmd_keygen(const struct hq_config *cfg, const struct args *a)
{
    char line[HQ_PUBKEY_LINE_MAX], errbuf[512];
    int rc = only(a, BIT(O_KID) | BIT(O_FORCE), "keygen");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos != 1)
        return hq_cli_usage("unexpected argument '%s'", a->pos[1]);
    const char *kid = a->seen[O_KID] ? a->val[O_KID] : HQ_KID_DEFAULT;
    ml_err err =
        hq_key_generate(cfg->data_dir, kid, a->seen[O_FORCE], line, errbuf, sizeof(errbuf));
    if (err != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        return err == ML_CONFIG ? HQ_EXIT_USAGE : HQ_EXIT_RUNTIME;
    }
    fprintf(stderr,
            "memberlink-hq: new signing key %s/%s (kid %s); put this line in the [hq] section of "
            "every store's config:\n",
            cfg->data_dir, HQ_KEY_FILE, kid);
    printf("%s\n", line);
    return fflush(stdout) == 0 ? HQ_EXIT_OK : HQ_EXIT_RUNTIME;
}

static int cmd_pubkey(const struct hq_config *cfg, const struct args *a)
{
    char line[HQ_PUBKEY_LINE_MAX], kid[SIGN_KID_MAX + 1], errbuf[512];
    EVP_PKEY *key = NULL;
    int rc = only(a, 0, "pubkey");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos != 1)
        return hq_cli_usage("unexpected argument '%s'", a->pos[1]);
    ml_err err = hq_key_load(cfg->data_dir, &key, kid, errbuf, sizeof(errbuf));
    if (err != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        return err == ML_FAILURE ? HQ_EXIT_RUNTIME : HQ_EXIT_USAGE;
    }
    err = hq_key_pubkey_line(key, kid, line);
    EVP_PKEY_free(key);
    if (err != ML_OK) {
        fprintf(stderr, "memberlink-hq: the signing key is not an Ed25519 key\n");
        return HQ_EXIT_USAGE;
    }
    printf("%s\n", line);
    return fflush(stdout) == 0 ? HQ_EXIT_OK : HQ_EXIT_RUNTIME;
}

static int cmd_push(const struct hq_config *cfg, const struct args *a)
{
    static const char *store_buf[HQ_CONFIG_STORES_MAX];
    struct job j = {0};
    if (a->npos < 2)
        return hq_cli_usage("%s", "push needs campaign, member or guide, and a FILE");
    const char *what = a->pos[1];
    if (strcmp(what, "campaign") == 0) {
        j.kind = "campaign.upsert";
        j.campaign = 1;
    } else if (strcmp(what, "member") == 0) {
        j.kind = "member.upsert";
    } else if (strcmp(what, "guide") == 0) {
        j.kind = "guide.upsert";
    } else {
        return hq_cli_usage("push %s: expected campaign, member or guide", what);
    }
    int rc = only(a, j.campaign ? 0 : BIT(O_STORE), "push");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos < 3)
        return hq_cli_usage("push %s needs a FILE", what);
    if (a->npos > 3)
        return hq_cli_usage("unexpected argument '%s'", a->pos[3]);
    if (!j.campaign && (rc = pick_stores(cfg, a, &j, store_buf)) != HQ_EXIT_OK)
        return rc;
    j.source = a->pos[2];
    if ((rc = read_bodies(a->pos[2], j.kind, !j.campaign, &j.bodies)) != HQ_EXIT_OK) {
        bodies_free(&j.bodies);
        return rc;
    }
    rc = run_job(cfg, &j);
    bodies_free(&j.bodies);
    return rc;
}

/* Adds a string field from an option, when given. */
static int add_str(cJSON *b, const struct args *a, int o, const char *field)
{
    return !a->seen[o] || cJSON_AddStringToObject(b, field, a->val[o]) != NULL ? 0 : -1;
}

/* Adds an integer field from an option in [min, max], when given. Usage error text in why. */
static int add_num(cJSON *b, const struct args *a, int o, const char *field, int64_t min,
                   int64_t max)
{
    int64_t v = 0;
    if (!a->seen[o])
        return 0;
    if (parse_num(a->val[o], min, max, &v) != 0) {
        hq_cli_usage("%s '%.40s': expected a whole number from %" PRId64 " to %" PRId64,
                     options[o].name, a->val[o], min, max);
        return -1;
    }
    return json_add_i64(b, field, v) != NULL ? 0 : -1;
}

static int add_time(cJSON *b, const struct args *a, int o, const char *field, int64_t dflt)
{
    int64_t t = dflt;
    if (a->seen[o] && parse_time(a->val[o], &t) != 0) {
        hq_cli_usage("%s '%.40s': expected ms since the epoch or YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM] "
                     "(UTC without an offset)",
                     options[o].name, a->val[o]);
        return -1;
    }
    if (t < 0)
        return 0;
    return json_add_i64(b, field, t) != NULL ? 0 : -1;
}

/* Runs a job of one body built from options. Takes body. */
static int run_one(const struct hq_config *cfg, const struct args *a, const char *kind,
                   const char *source, cJSON *body)
{
    static const char *store_buf[HQ_CONFIG_STORES_MAX];
    struct job j = {.kind = kind, .source = source};
    int rc = pick_stores(cfg, a, &j, store_buf);
    if (rc != HQ_EXIT_OK || bodies_add(&j.bodies, body, 0) != 0) {
        if (rc == HQ_EXIT_OK) {
            fprintf(stderr, "memberlink-hq: out of memory\n");
            rc = HQ_EXIT_RUNTIME;
        }
        bodies_free(&j.bodies);
        return rc;
    }
    rc = run_job(cfg, &j);
    bodies_free(&j.bodies);
    return rc;
}

static int missing(const struct args *a, int o, const char *cmd)
{
    return a->seen[o] ? 0 : (hq_cli_usage("%s needs %s", cmd, options[o].name), 1);
}

static int cmd_grant(const struct hq_config *cfg, const struct args *a)
{
    const unsigned long allowed = BIT(O_ID) | BIT(O_KIND) | BIT(O_VALUE) | BIT(O_MAX_OFF) |
                                  BIT(O_MEMBER) | BIT(O_CAMPAIGN) | BIT(O_MIN_SPEND) |
                                  BIT(O_CATEGORIES) | BIT(O_FROM) | BIT(O_TO) | BIT(O_USES) |
                                  BIT(O_OFFLINE_OK) | BIT(O_VERSION) | BIT(O_STORE);
    int rc = only(a, allowed, "grant coupon");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos != 2 || strcmp(a->pos[1], "coupon") != 0)
        return hq_cli_usage("%s", "expected: grant coupon --id C --kind K --value N --to T ...");
    if (missing(a, O_ID, "grant coupon") || missing(a, O_KIND, "grant coupon") ||
        missing(a, O_VALUE, "grant coupon") || missing(a, O_TO, "grant coupon"))
        return HQ_EXIT_USAGE;
    if (strcmp(a->val[O_KIND], "amount_off") != 0 && strcmp(a->val[O_KIND], "percent_off") != 0)
        return hq_cli_usage("--kind '%.40s': expected amount_off or percent_off", a->val[O_KIND]);
    int offline_ok = 1;
    if (a->seen[O_OFFLINE_OK]) {
        if (strcmp(a->val[O_OFFLINE_OK], "yes") == 0)
            offline_ok = 1;
        else if (strcmp(a->val[O_OFFLINE_OK], "no") == 0)
            offline_ok = 0;
        else
            return hq_cli_usage("--offline-ok '%.40s': expected yes or no", a->val[O_OFFLINE_OK]);
    }
    cJSON *b = cJSON_CreateObject();
    if (b == NULL || add_str(b, a, O_ID, "coupon_id") || add_str(b, a, O_MEMBER, "member_id") ||
        add_str(b, a, O_CAMPAIGN, "campaign_id") || add_str(b, a, O_KIND, "kind") ||
        add_num(b, a, O_VALUE, "value", 1, INT64_C(100000000000)) ||
        add_num(b, a, O_MAX_OFF, "max_off", 0, INT64_C(100000000000)) ||
        add_num(b, a, O_MIN_SPEND, "min_spend", 0, INT64_C(100000000000)) ||
        add_time(b, a, O_FROM, "valid_from", hq_cli_wall_ms()) ||
        add_time(b, a, O_TO, "valid_to", -1) || add_num(b, a, O_USES, "uses", 1, 1000000) ||
        add_num(b, a, O_VERSION, "version", 1, HQ_VERSION_MAX)) {
        cJSON_Delete(b);
        return HQ_EXIT_USAGE;
    }
    if (a->seen[O_CATEGORIES]) {
        cJSON *cats = cJSON_AddArrayToObject(b, "categories");
        const char *p = a->val[O_CATEGORIES];
        while (cats != NULL && *p != '\0') {
            size_t n = strcspn(p, ",");
            char cat[40];
            if (n == 0 || n > 32) {
                cJSON_Delete(b);
                return hq_cli_usage("%s", "--categories: expected names of 1-32 bytes separated "
                                          "by commas");
            }
            memcpy(cat, p, n);
            cat[n] = '\0';
            cJSON_AddItemToArray(cats, cJSON_CreateString(cat));
            p += n + (p[n] == ',');
        }
    }
    cJSON_AddBoolToObject(b, "offline_ok", offline_ok);
    return run_one(cfg, a, "coupon.grant", "grant coupon", b);
}

static int cmd_revoke(const struct hq_config *cfg, const struct args *a)
{
    int rc = only(a, BIT(O_ID) | BIT(O_VERSION) | BIT(O_STORE), "revoke coupon");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos != 2 || strcmp(a->pos[1], "coupon") != 0)
        return hq_cli_usage("%s", "expected: revoke coupon --id C [--version N] [--store S]");
    if (missing(a, O_ID, "revoke coupon"))
        return HQ_EXIT_USAGE;
    cJSON *b = cJSON_CreateObject();
    if (b == NULL || add_str(b, a, O_ID, "coupon_id") ||
        add_num(b, a, O_VERSION, "version", 1, HQ_VERSION_MAX)) {
        cJSON_Delete(b);
        return HQ_EXIT_USAGE;
    }
    return run_one(cfg, a, "coupon.revoke", "revoke coupon", b);
}

static int cmd_bind(const struct hq_config *cfg, const struct args *a)
{
    int rc = only(a,
                  BIT(O_MEMBER) | BIT(O_GUIDE) | BIT(O_UNTIL) | BIT(O_UNBIND) | BIT(O_VERSION) |
                      BIT(O_STORE),
                  "bind guide");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos != 2 || strcmp(a->pos[1], "guide") != 0)
        return hq_cli_usage("%s",
                            "expected: bind guide --member M (--guide G --until T | --unbind)");
    if (missing(a, O_MEMBER, "bind guide"))
        return HQ_EXIT_USAGE;
    if (a->seen[O_UNBIND] && (a->seen[O_GUIDE] || a->seen[O_UNTIL]))
        return hq_cli_usage("%s", "--unbind takes no --guide or --until");
    if (!a->seen[O_UNBIND] &&
        (missing(a, O_GUIDE, "bind guide") || missing(a, O_UNTIL, "bind guide")))
        return HQ_EXIT_USAGE;
    cJSON *b = cJSON_CreateObject();
    if (b == NULL || add_str(b, a, O_MEMBER, "member_id") ||
        (a->seen[O_UNBIND] ? cJSON_AddNullToObject(b, "guide_id") == NULL
                           : add_str(b, a, O_GUIDE, "guide_id")) ||
        add_time(b, a, O_UNTIL, "until", -1) ||
        add_num(b, a, O_VERSION, "version", 1, HQ_VERSION_MAX)) {
        cJSON_Delete(b);
        return HQ_EXIT_USAGE;
    }
    return run_one(cfg, a, "guide.bind", "bind guide", b);
}

static int cmd_withdraw(const struct hq_config *cfg, const struct args *a)
{
    int rc = only(a, 0, "withdraw campaign");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos != 3 || strcmp(a->pos[1], "campaign") != 0)
        return hq_cli_usage("%s", "expected: withdraw campaign ID");
    struct job j = {.kind = "campaign.withdraw", .campaign = 1, .source = "withdraw campaign"};
    cJSON *b = cJSON_CreateObject();
    if (b == NULL || cJSON_AddStringToObject(b, "campaign_id", a->pos[2]) == NULL ||
        bodies_add(&j.bodies, b, 0) != 0) {
        cJSON_Delete(b);
        bodies_free(&j.bodies);
        fprintf(stderr, "memberlink-hq: out of memory\n");
        return HQ_EXIT_RUNTIME;
    }
    rc = run_job(cfg, &j);
    bodies_free(&j.bodies);
    return rc;
}

static int cmd_deny(const struct hq_config *cfg, const struct args *a)
{
    int rc =
        only(a, BIT(O_ID) | BIT(O_REASON) | BIT(O_LIFT) | BIT(O_VERSION) | BIT(O_STORE), "deny");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos != 2 || (strcmp(a->pos[1], "member") != 0 && strcmp(a->pos[1], "coupon") != 0))
        return hq_cli_usage("%s", "expected: deny member|coupon --id X --reason R [--lift]");
    if (missing(a, O_ID, "deny") || missing(a, O_REASON, "deny"))
        return HQ_EXIT_USAGE;
    cJSON *b = cJSON_CreateObject();
    if (b == NULL || cJSON_AddStringToObject(b, "subject", a->pos[1]) == NULL ||
        add_str(b, a, O_ID, "id") || add_str(b, a, O_REASON, "reason") ||
        cJSON_AddBoolToObject(b, "lifted", a->seen[O_LIFT]) == NULL ||
        add_num(b, a, O_VERSION, "version", 1, HQ_VERSION_MAX)) {
        cJSON_Delete(b);
        return HQ_EXIT_USAGE;
    }
    return run_one(cfg, a, "deny.upsert", "deny", b);
}

/* Reads (topic, text, id) rows of `sql` into the arrays; returns the count or -1. */
static long load_rows(struct hq_store *st, const char *sql, int64_t now, char ***topics,
                      char ***texts, char ***idv, size_t *ret_n, size_t max)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(hq_store_db(st), sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        size_t i = *ret_n;
        char **t = realloc(*topics, (i + 1) * sizeof(char *));
        if (t != NULL)
            *topics = t;
        char **x = realloc(*texts, (i + 1) * sizeof(char *));
        if (x != NULL)
            *texts = x;
        char **d = realloc(*idv, (i + 1) * sizeof(char *));
        if (d != NULL)
            *idv = d;
        if (t == NULL || x == NULL || d == NULL)
            break;
        (*topics)[i] = strdup((const char *)sqlite3_column_text(s, 0));
        (*texts)[i] = strdup((const char *)sqlite3_column_text(s, 1));
        (*idv)[i] = strdup((const char *)sqlite3_column_text(s, 2));
        *ret_n = i + 1;
        if ((*topics)[i] == NULL || (*texts)[i] == NULL || (*idv)[i] == NULL)
            break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? (long)*ret_n : -1;
}

static int cmd_republish(const struct hq_config *cfg, const struct args *a)
{
    static const char campaigns_sql[] =
        "SELECT topic, text, id FROM outgoing_campaigns WHERE expires > ?1"
        " ORDER BY campaign_id LIMIT ?2";
    static const char pending_sql[] =
        "SELECT topic, text, id FROM outgoing WHERE published_at IS NULL AND expires > ?1"
        " ORDER BY store, cursor LIMIT ?2";
    int rc = only(a, 0, "republish");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos != 1)
        return hq_cli_usage("unexpected argument '%s'", a->pos[1]);
    struct hq_store *st = NULL;
    if ((rc = open_rw(cfg, &st)) != HQ_EXIT_OK)
        return rc;
    char **topics = NULL, **texts = NULL, **idv = NULL;
    size_t n = 0, ncamp = 0;
    struct hq_pub_item *items = NULL;
    int64_t now = hq_cli_wall_ms();
    rc = HQ_EXIT_RUNTIME;
    if (load_rows(st, campaigns_sql, now, &topics, &texts, &idv, &n, HQ_CAMPAIGNS_LIVE_MAX) < 0) {
        fprintf(stderr, "memberlink-hq: database: %s\n", hq_store_errmsg(st));
        goto out;
    }
    ncamp = n;
    if (load_rows(st, pending_sql, now, &topics, &texts, &idv, &n, HQ_PUSH_MESSAGES_MAX) < 0) {
        fprintf(stderr, "memberlink-hq: database: %s\n", hq_store_errmsg(st));
        goto out;
    }
    items = calloc(n ? n : 1, sizeof(*items));
    if (items == NULL) {
        fprintf(stderr, "memberlink-hq: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = (struct hq_pub_item){
            .topic = topics[i], .text = texts[i], .len = strlen(texts[i]), .retain = i < ncamp};
    size_t acked = publish(cfg, st, items, (const char *const *)idv, n, ncamp > 0);
    for (size_t i = 0; i < n; i++)
        printf("%-10s %s%s id %s\n", items[i].acked ? "published" : "stored", topics[i],
               i < ncamp ? " (retained)" : "", idv[i]);
    printf("%zu campaigns and %zu unpublished messages sent again, %zu published\n", ncamp,
           n - ncamp, acked);
    rc = fflush(stdout) == 0 ? HQ_EXIT_OK : HQ_EXIT_RUNTIME;
out:
    for (size_t i = 0; i < n; i++) {
        free(topics[i]);
        free(texts[i]);
        free(idv[i]);
    }
    free(topics);
    free(texts);
    free(idv);
    free(items);
    hq_store_close(st);
    return rc;
}

/* ---- entry ------------------------------------------------------------------------------ */

int hq_cmd_handles(const char *cmd)
{
    static const char *const cmds[] = {"keygen", "pubkey",    "push",     "grant", "revoke",
                                       "bind",   "republish", "withdraw", "deny"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(cmd, cmds[i]) == 0)
            return 1;
    return 0;
}

int hq_cmd_main(int argc, char **argv)
{
    static struct args a; /* large (the --store list): not on the stack */
    static struct hq_config cfg;
    char errbuf[512];
    int rc = parse_args(argc, argv, &a);
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a.npos == 0 || !hq_cmd_handles(a.pos[0]))
        return hq_cli_usage("%s", "no command given");
    hq_config_defaults(&cfg);
    if (a.conf != NULL && hq_config_load(&cfg, a.conf, errbuf, sizeof(errbuf)) != ML_OK) {
        fprintf(stderr, "memberlink-hq: %s\n", errbuf);
        return HQ_EXIT_USAGE;
    }
    if (a.verbose)
        hq_log_set_level(HQ_LOG_DEBUG);
    const char *cmd = a.pos[0];
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(&cfg, &a);
    if (strcmp(cmd, "pubkey") == 0)
        return cmd_pubkey(&cfg, &a);
    if (strcmp(cmd, "push") == 0)
        return cmd_push(&cfg, &a);
    if (strcmp(cmd, "grant") == 0)
        return cmd_grant(&cfg, &a);
    if (strcmp(cmd, "revoke") == 0)
        return cmd_revoke(&cfg, &a);
    if (strcmp(cmd, "bind") == 0)
        return cmd_bind(&cfg, &a);
    if (strcmp(cmd, "withdraw") == 0)
        return cmd_withdraw(&cfg, &a);
    if (strcmp(cmd, "deny") == 0)
        return cmd_deny(&cfg, &a);
    return cmd_republish(&cfg, &a);
}
