/*
 * hq_cmd: keygen, pubkey, push, grant, revoke, bind, withdraw, deny and republish; see
 * hq_cmd.h. This is where those commands read their options and build their bodies; reading
 * input files is hq_bodies.h's, signing, storing, publishing and printing hq_send.h's. The
 * modules below return errors and refusals, and each is reported once, on stderr.
 */
#include "hq_cmd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "clock.h"
#include "day.h"
#include "hq_bodies.h"
#include "hq_cli.h"
#include "hq_config.h"
#include "hq_fact.h"
#include "hq_key.h"
#include "hq_outgoing.h"
#include "hq_pub.h"
#include "hq_push.h"
#include "hq_send.h"
#include "hq_store.h"
#include "jsonutil.h"
#include "num.h"

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

static const struct hq_cli_option cmd_options[O_COUNT] = {
    [O_KID] = {"--kid", 1, 0},
    [O_FORCE] = {"--force", 0, 0},
    [O_STORE] = {"--store", 1, 1},
    [O_ID] = {"--id", 1, 0},
    [O_KIND] = {"--kind", 1, 0},
    [O_VALUE] = {"--value", 1, 0},
    [O_MAX_OFF] = {"--max-off", 1, 0},
    [O_MEMBER] = {"--member", 1, 0},
    [O_CAMPAIGN] = {"--campaign", 1, 0},
    [O_MIN_SPEND] = {"--min-spend", 1, 0},
    [O_CATEGORIES] = {"--categories", 1, 0},
    [O_FROM] = {"--from", 1, 0},
    [O_TO] = {"--to", 1, 0},
    [O_USES] = {"--uses", 1, 0},
    [O_OFFLINE_OK] = {"--offline-ok", 1, 0},
    [O_VERSION] = {"--version", 1, 0},
    [O_GUIDE] = {"--guide", 1, 0},
    [O_UNTIL] = {"--until", 1, 0},
    [O_UNBIND] = {"--unbind", 0, 0},
    [O_REASON] = {"--reason", 1, 0},
    [O_LIFT] = {"--lift", 0, 0},
};

/* The command and up to three words after it; --store repeats (a->ids). */
static const struct hq_cli_spec cmd_spec = {
    .options = cmd_options, .noptions = O_COUNT, .max_pos = 4, .dash = 1};

#define BIT(o) (1UL << (o))

/* --store options, else [hq] stores. */
static int pick_stores(const struct hq_config *cfg, const struct hq_cli_args *a,
                       struct hq_send_job *j, const char **buf)
{
    if (a->nids > 0) {
        j->stores = a->ids;
        j->nstores = a->nids;
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

static int cmd_keygen(const struct hq_config *cfg, const struct hq_cli_args *a)
{
    char line[HQ_PUBKEY_LINE_MAX], errbuf[512];
    int rc = hq_cli_only(a, &cmd_spec, BIT(O_KID) | BIT(O_FORCE), "keygen");
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

static int cmd_pubkey(const struct hq_config *cfg, const struct hq_cli_args *a)
{
    char line[HQ_PUBKEY_LINE_MAX], kid[SIGN_KID_MAX + 1], errbuf[512];
    EVP_PKEY *key = NULL;
    int rc = hq_cli_only(a, &cmd_spec, 0, "pubkey");
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

static int cmd_push(const struct hq_config *cfg, const struct hq_cli_args *a)
{
    static const char *store_buf[HQ_CONFIG_STORES_MAX];
    struct hq_send_job j = {0};
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
    int rc = hq_cli_only(a, &cmd_spec, j.campaign ? 0 : BIT(O_STORE), "push");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos < 3)
        return hq_cli_usage("push %s needs a FILE", what);
    if (a->npos > 3)
        return hq_cli_usage("unexpected argument '%s'", a->pos[3]);
    if (!j.campaign && (rc = pick_stores(cfg, a, &j, store_buf)) != HQ_EXIT_OK)
        return rc;
    struct hq_bodies bodies = {0};
    j.source = a->pos[2];
    j.bodies = &bodies;
    if ((rc = hq_bodies_read(a->pos[2], j.kind, !j.campaign, &bodies)) == HQ_EXIT_OK)
        rc = hq_send_run(cfg, &j);
    hq_bodies_free(&bodies);
    return rc;
}

/* Adds a string field from an option, when given. */
static int add_str(cJSON *b, const struct hq_cli_args *a, int o, const char *field)
{
    return !a->seen[o] || cJSON_AddStringToObject(b, field, a->val[o]) != NULL ? 0 : -1;
}

/* Adds an integer field from an option in [min, max], when given. Usage error text in why. */
static int add_num(cJSON *b, const struct hq_cli_args *a, int o, const char *field, int64_t min,
                   int64_t max)
{
    int64_t v = 0;
    if (!a->seen[o])
        return 0;
    if (num_parse_i64(a->val[o], min, max, &v) != 0) {
        hq_cli_usage("%s '%.40s': expected a whole number from %" PRId64 " to %" PRId64,
                     cmd_options[o].name, a->val[o], min, max);
        return -1;
    }
    return json_add_i64(b, field, v) != NULL ? 0 : -1;
}

static int add_time(cJSON *b, const struct hq_cli_args *a, int o, const char *field, int64_t dflt)
{
    int64_t t = dflt;
    if (a->seen[o] && day_parse_time(a->val[o], HQ_VERSION_MAX, &t) != 0) {
        hq_cli_usage("%s '%.40s': expected ms since the epoch or YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM] "
                     "(UTC without an offset)",
                     cmd_options[o].name, a->val[o]);
        return -1;
    }
    if (t < 0)
        return 0;
    return json_add_i64(b, field, t) != NULL ? 0 : -1;
}

/* Runs a job of one body built from options: to the stores of --store (or [hq] stores), or
 * brand-wide for a campaign. Takes body. */
static int run_one(const struct hq_config *cfg, const struct hq_cli_args *a, const char *kind,
                   const char *source, int campaign, cJSON *body)
{
    static const char *store_buf[HQ_CONFIG_STORES_MAX];
    struct hq_bodies bodies = {0};
    struct hq_send_job j = {
        .kind = kind, .campaign = campaign, .source = source, .bodies = &bodies};
    int rc = campaign ? HQ_EXIT_OK : pick_stores(cfg, a, &j, store_buf);
    if (rc != HQ_EXIT_OK) {
        cJSON_Delete(body);
        return rc;
    }
    if (hq_bodies_add(&bodies, body, 0) != 0) {
        hq_bodies_free(&bodies);
        fprintf(stderr, "memberlink-hq: out of memory\n");
        return HQ_EXIT_RUNTIME;
    }
    rc = hq_send_run(cfg, &j);
    hq_bodies_free(&bodies);
    return rc;
}

static int missing(const struct hq_cli_args *a, int o, const char *cmd)
{
    return a->seen[o] ? 0 : (hq_cli_usage("%s needs %s", cmd, cmd_options[o].name), 1);
}

static int cmd_grant(const struct hq_config *cfg, const struct hq_cli_args *a)
{
    const unsigned long allowed = BIT(O_ID) | BIT(O_KIND) | BIT(O_VALUE) | BIT(O_MAX_OFF) |
                                  BIT(O_MEMBER) | BIT(O_CAMPAIGN) | BIT(O_MIN_SPEND) |
                                  BIT(O_CATEGORIES) | BIT(O_FROM) | BIT(O_TO) | BIT(O_USES) |
                                  BIT(O_OFFLINE_OK) | BIT(O_VERSION) | BIT(O_STORE);
    int rc = hq_cli_only(a, &cmd_spec, allowed, "grant coupon");
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
        add_time(b, a, O_FROM, "valid_from", clock_wall_ms()) ||
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
    return run_one(cfg, a, "coupon.grant", "grant coupon", 0, b);
}

static int cmd_revoke(const struct hq_config *cfg, const struct hq_cli_args *a)
{
    int rc = hq_cli_only(a, &cmd_spec, BIT(O_ID) | BIT(O_VERSION) | BIT(O_STORE), "revoke coupon");
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
    return run_one(cfg, a, "coupon.revoke", "revoke coupon", 0, b);
}

static int cmd_bind(const struct hq_config *cfg, const struct hq_cli_args *a)
{
    int rc = hq_cli_only(a, &cmd_spec,
                         BIT(O_MEMBER) | BIT(O_GUIDE) | BIT(O_UNTIL) | BIT(O_UNBIND) |
                             BIT(O_VERSION) | BIT(O_STORE),
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
    return run_one(cfg, a, "guide.bind", "bind guide", 0, b);
}

static int cmd_withdraw(const struct hq_config *cfg, const struct hq_cli_args *a)
{
    int rc = hq_cli_only(a, &cmd_spec, 0, "withdraw campaign");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos != 3 || strcmp(a->pos[1], "campaign") != 0)
        return hq_cli_usage("%s", "expected: withdraw campaign ID");
    cJSON *b = cJSON_CreateObject();
    if (b == NULL || cJSON_AddStringToObject(b, "campaign_id", a->pos[2]) == NULL) {
        cJSON_Delete(b);
        fprintf(stderr, "memberlink-hq: out of memory\n");
        return HQ_EXIT_RUNTIME;
    }
    return run_one(cfg, a, "campaign.withdraw", "withdraw campaign", 1, b);
}

static int cmd_deny(const struct hq_config *cfg, const struct hq_cli_args *a)
{
    int rc = hq_cli_only(a, &cmd_spec,
                         BIT(O_ID) | BIT(O_REASON) | BIT(O_LIFT) | BIT(O_VERSION) | BIT(O_STORE),
                         "deny");
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
    return run_one(cfg, a, "deny.upsert", "deny", 0, b);
}

/* Messages read back for republish, ready to publish: items[i] and ids[i] are one message,
 * whose id, topic and text are one allocation owned by ids[i]. */
struct resend {
    struct hq_pub_item *items;
    char **ids;
    size_t n, cap;
};

static enum hq_walk add_resend(void *arg, const struct hq_outgoing_text *m)
{
    struct resend *r = arg;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct hq_pub_item *items = realloc(r->items, cap * sizeof(*items));
        if (items == NULL)
            return HQ_WALK_FAIL;
        r->items = items;
        char **ids = realloc(r->ids, cap * sizeof(*ids));
        if (ids == NULL)
            return HQ_WALK_FAIL;
        r->ids = ids;
        r->cap = cap;
    }
    size_t id_len = strlen(m->id), topic_len = strlen(m->topic);
    char *copy = malloc(id_len + 1 + topic_len + 1 + m->len + 1);
    if (copy == NULL)
        return HQ_WALK_FAIL;
    char *topic = copy + id_len + 1, *text = topic + topic_len + 1;
    memcpy(copy, m->id, id_len + 1);
    memcpy(topic, m->topic, topic_len + 1);
    memcpy(text, m->text, m->len);
    text[m->len] = '\0';
    r->ids[r->n] = copy;
    r->items[r->n++] = (struct hq_pub_item){.topic = topic, .text = text, .len = m->len};
    return HQ_WALK_NEXT;
}

static void resend_free(struct resend *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->ids[i]);
    free(r->ids);
    free(r->items);
}

static int cmd_republish(const struct hq_config *cfg, const struct hq_cli_args *a)
{
    int rc = hq_cli_only(a, &cmd_spec, 0, "republish");
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a->npos != 1)
        return hq_cli_usage("unexpected argument '%s'", a->pos[1]);
    struct hq_store *st = NULL;
    if ((rc = hq_send_open(cfg, &st)) != HQ_EXIT_OK)
        return rc;
    struct resend r = {0};
    int64_t now = clock_wall_ms();
    rc = HQ_EXIT_RUNTIME;
    if (hq_outgoing_campaigns(st, now, HQ_CAMPAIGNS_LIVE_MAX, add_resend, &r) != ML_OK) {
        fprintf(stderr, "memberlink-hq: database: %s\n", hq_store_errmsg(st));
        goto out;
    }
    size_t ncamp = r.n;
    for (size_t i = 0; i < ncamp; i++)
        r.items[i].retain = 1;
    if (hq_outgoing_unpublished(st, now, HQ_PUSH_MESSAGES_MAX, add_resend, &r) != ML_OK) {
        fprintf(stderr, "memberlink-hq: database: %s\n", hq_store_errmsg(st));
        goto out;
    }
    size_t n = r.n;
    size_t acked = hq_send_publish(cfg, st, r.items, (const char *const *)r.ids, n, ncamp > 0);
    for (size_t i = 0; i < n; i++)
        printf("%-10s %s%s id %s\n", r.items[i].acked ? "published" : "stored", r.items[i].topic,
               i < ncamp ? " (retained)" : "", r.ids[i]);
    printf("%zu campaigns and %zu unpublished messages sent again, %zu published\n", ncamp,
           n - ncamp, acked);
    rc = fflush(stdout) == 0 ? HQ_EXIT_OK : HQ_EXIT_RUNTIME;
out:
    resend_free(&r);
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
    static struct hq_cli_args a; /* large (the --store list): not on the stack */
    static struct hq_config cfg;
    int rc = hq_cli_parse(argc, argv, &cmd_spec, &a);
    if (rc != HQ_EXIT_OK)
        return rc;
    if (a.help)
        return hq_cli_help();
    if (a.npos == 0 || !hq_cmd_handles(a.pos[0]))
        return hq_cli_usage("%s", "no command given");
    if ((rc = hq_cli_config(&a, &cfg)) != HQ_EXIT_OK)
        return rc;
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
