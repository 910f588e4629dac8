/*
 * print: the output of `memberlink`; see print.h. The getters here read the server's JSON
 * leniently, for display only: what the API promises is checked by the server and by
 * tests/integration, not by the CLI.
 */
#include "print.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "day.h"
#include "jsonutil.h"
#include "money.h"

void print_json_pretty(FILE *out, const char *text, size_t len)
{
    int depth = 0, in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (in_str) {
            fputc(ch, out);
            if (esc)
                esc = 0;
            else if (ch == '\\')
                esc = 1;
            else if (ch == '"')
                in_str = 0;
            continue;
        }
        switch (ch) {
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            break;
        case '"':
            in_str = 1;
            fputc(ch, out);
            break;
        case '{':
        case '[': {
            size_t j = i + 1;
            while (j < len &&
                   (text[j] == ' ' || text[j] == '\t' || text[j] == '\n' || text[j] == '\r'))
                j++;
            fputc(ch, out);
            if (j < len && (text[j] == '}' || text[j] == ']')) {
                fputc(text[j], out);
                i = j;
                break;
            }
            depth++;
            fprintf(out, "\n%*s", 2 * depth, "");
            break;
        }
        case '}':
        case ']':
            depth--;
            fprintf(out, "\n%*s%c", 2 * depth, "", ch);
            break;
        case ',':
            fprintf(out, ",\n%*s", 2 * depth, "");
            break;
        case ':':
            fputs(": ", out);
            break;
        default:
            fputc(ch, out);
        }
    }
    fputc('\n', out);
}

/* ---- reading the server's JSON for human output ----------------------------------- */

static const cJSON *j_get(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

/* A string field, or NULL when missing or not a string. */
static const char *j_str(const cJSON *obj, const char *name)
{
    const cJSON *v = j_get(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * An exact integer value (|v| <= JSON_INT_MAX). Returns 0, or -1 (writing nothing) when it
 * is not one. json_i64() (lib/jsonutil.h) makes the same test on a named field of a request
 * and fills a refusal; display also needs it on array elements, and has nothing to refuse.
 */
static int j_int_value(const cJSON *v, int64_t *ret)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= -(double)JSON_INT_MAX && d <= (double)JSON_INT_MAX))
        return -1;
    int64_t i = (int64_t)d;
    if ((double)i != d)
        return -1;
    *ret = i;
    return 0;
}

static int j_int(const cJSON *obj, const char *name, int64_t *ret)
{
    return j_int_value(j_get(obj, name), ret);
}

static int64_t j_int_or(const cJSON *obj, const char *name, int64_t dflt)
{
    int64_t v = dflt;
    (void)j_int(obj, name, &v);
    return v;
}

const char *print_clean(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    if (s == NULL)
        s = "-";
    for (; s[i] != '\0' && i + 1 < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    buf[i] = '\0';
    return buf;
}

/* A money field as yuan, or "-" when missing. */
static const char *fmt_money_field(const cJSON *obj, const char *name, char *buf, size_t len)
{
    int64_t v;
    if (j_int(obj, name, &v) != 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    return money_format(v, buf, len);
}

/* A reduction shown with its sign: 2000 -> "-20.00", 0 -> "0.00". Precondition: |minor| <= 2^53. */
static const char *fmt_minus(int64_t minor, char *buf, size_t len)
{
    return money_format(-minor, buf, len);
}

/* Basis points as a percentage: 1500 -> "15%", 1250 -> "12.5%", 1234 -> "12.34%". */
static const char *fmt_bp(int64_t bp, char *buf, size_t len)
{
    int64_t whole = bp / 100, frac = bp % 100;
    if (frac < 0)
        frac = -frac;
    if (frac == 0)
        snprintf(buf, len, "%" PRId64 "%%", whole);
    else if (frac % 10 == 0)
        snprintf(buf, len, "%" PRId64 ".%" PRId64 "%%", whole, frac / 10);
    else
        snprintf(buf, len, "%" PRId64 ".%02" PRId64 "%%", whole, frac);
    return buf;
}

/* Milliseconds since the epoch (UTC) as local time "YYYY-MM-DD HH:MM:SS", or as digits. */
static const char *fmt_time(int64_t ms, char *buf, size_t len)
{
    if (day_time_text(ms, buf, len) != 0)
        snprintf(buf, len, "%" PRId64, ms);
    return buf;
}

static const char *fmt_time_field(const cJSON *obj, const char *name, char *buf, size_t len)
{
    int64_t ms;
    if (j_int(obj, name, &ms) != 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    return fmt_time(ms, buf, len);
}

/* Seconds as "2d 3h", "3h 12m", "5m 3s" or "42s". */
static const char *fmt_duration(int64_t s, char *buf, size_t len)
{
    if (s < 0)
        s = 0;
    if (s >= 86400)
        snprintf(buf, len, "%" PRId64 "d %" PRId64 "h", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(buf, len, "%" PRId64 "h %" PRId64 "m", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(buf, len, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
    else
        snprintf(buf, len, "%" PRId64 "s", s);
    return buf;
}

/* Appends to a fixed buffer; silently stops when full (display only). */
struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    if (b->len + 1 >= b->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    b->len += (size_t)n;
    if (b->len >= b->cap)
        b->len = b->cap - 1;
}

/* Joins an array of integers or strings with `sep`; `empty` when missing or empty. */
static const char *fmt_list(const cJSON *arr, const char *sep, const char *empty, char *buf,
                            size_t len)
{
    struct sbuf b = {buf, 0, len};
    const cJSON *v;
    int n = 0;
    buf[0] = '\0';
    cJSON_ArrayForEach(v, arr)
    {
        int64_t i;
        char tmp[128];
        if (n++ > 0)
            sb_add(&b, "%s", sep);
        if (cJSON_IsString(v))
            sb_add(&b, "%s", print_clean(v->valuestring, tmp, sizeof(tmp)));
        else if (j_int_value(v, &i) == 0)
            sb_add(&b, "%" PRId64, i);
        else
            sb_add(&b, "?");
    }
    if (n == 0)
        snprintf(buf, len, "%s", empty);
    return buf;
}

static int list_has_int(const cJSON *arr, int64_t want)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
    {
        int64_t i;
        if (j_int_value(v, &i) == 0 && i == want)
            return 1;
    }
    return 0;
}

/* ---- human output ----------------------------------------------------------------- */

static void print_coupon_header(void)
{
    printf("  %-14s %-22s %10s  %-16s %-19s %4s  %s\n", "COUPON", "OFFER", "MIN SPEND",
           "CATEGORIES", "VALID TO", "USES", "OFFLINE");
}

static void print_coupon_row(const cJSON *cp)
{
    char b1[128], b2[128], b4[64], b5[64], b6[64], offer[96];
    const char *kind = j_str(cp, "kind");
    int64_t value = j_int_or(cp, "value", 0), max_off = j_int_or(cp, "max_off", 0);
    if (kind != NULL && strcmp(kind, "amount_off") == 0) {
        snprintf(offer, sizeof(offer), "%s off", money_format(value, b4, sizeof(b4)));
    } else if (kind != NULL && strcmp(kind, "percent_off") == 0) {
        if (max_off > 0)
            snprintf(offer, sizeof(offer), "%s off (max %s)", fmt_bp(value, b4, sizeof(b4)),
                     money_format(max_off, b5, sizeof(b5)));
        else
            snprintf(offer, sizeof(offer), "%s off", fmt_bp(value, b4, sizeof(b4)));
    } else {
        snprintf(offer, sizeof(offer), "%s %" PRId64, print_clean(kind, b4, sizeof(b4)), value);
    }
    const cJSON *cats = j_get(cp, "categories");
    printf("  %-14s %-22s %10s  %-16s %-19s %4" PRId64 "  %s\n",
           print_clean(j_str(cp, "coupon_id"), b1, sizeof(b1)), offer,
           fmt_money_field(cp, "min_spend", b5, sizeof(b5)),
           fmt_list(cats, ",", "any", b2, sizeof(b2)),
           fmt_time_field(cp, "valid_to", b6, sizeof(b6)), j_int_or(cp, "uses_left", 0),
           cJSON_IsFalse(j_get(cp, "offline_ok")) ? "no" : "yes");
}

/* A guide card or a bearer coupon code (identify --qr MLG1:/MLC1:). */
static void print_identified_card(const cJSON *o)
{
    char b1[128], b2[128];
    const cJSON *guide = j_get(o, "guide"), *coupon = j_get(o, "coupon");
    if (cJSON_IsObject(guide)) {
        printf("guide       %s %s (use: checkout --guide %s)\n",
               print_clean(j_str(guide, "guide_id"), b1, sizeof(b1)),
               print_clean(j_str(guide, "name"), b2, sizeof(b2)), b1);
    } else if (cJSON_IsObject(coupon)) {
        printf("coupon      usable (use: checkout --coupon %s)\n",
               print_clean(j_str(coupon, "coupon_id"), b1, sizeof(b1)));
        print_coupon_header();
        print_coupon_row(coupon);
    }
}

void print_identify(const cJSON *m)
{
    char b1[128], b2[128], b3[128], b4[64];
    if (j_get(m, "member_id") == NULL) {
        print_identified_card(m);
        return;
    }
    const cJSON *plan = j_get(m, "plan");
    const cJSON *points = j_get(m, "points");
    const cJSON *guide = j_get(m, "guide");
    const cJSON *coupons = j_get(m, "coupons");

    printf("member      %s  %s  %s%s\n", print_clean(j_str(m, "member_id"), b1, sizeof(b1)),
           print_clean(j_str(m, "tier"), b2, sizeof(b2)),
           print_clean(j_str(m, "status"), b3, sizeof(b3)),
           cJSON_IsFalse(j_get(m, "clock_trusted")) ? "  (code judged by this terminal's own clock)"
                                                    : "");
    printf("phone       %s\n", print_clean(j_str(m, "phone"), b1, sizeof(b1)));
    if (cJSON_IsObject(plan)) {
        int active = cJSON_IsTrue(j_get(plan, "active"));
        printf("plan        %s, %s until %s\n", print_clean(j_str(plan, "name"), b1, sizeof(b1)),
               active ? "active" : "inactive", fmt_time_field(plan, "until", b4, sizeof(b4)));
    } else {
        printf("plan        none\n");
    }
    printf("points      %" PRId64 " available (%" PRId64 " confirmed, %" PRId64 " pending)\n",
           j_int_or(points, "available", 0), j_int_or(points, "confirmed", 0),
           j_int_or(points, "pending", 0));
    if (cJSON_IsObject(guide))
        printf("guide       %s %s, bound until %s\n",
               print_clean(j_str(guide, "guide_id"), b1, sizeof(b1)),
               print_clean(j_str(guide, "name"), b2, sizeof(b2)),
               fmt_time_field(guide, "until", b4, sizeof(b4)));
    else
        printf("guide       none\n");

    int n = cJSON_GetArraySize(coupons);
    if (n == 0) {
        printf("coupons     none\n");
        return;
    }
    printf("coupons     %d usable\n", n);
    print_coupon_header();
    const cJSON *cp;
    cJSON_ArrayForEach(cp, coupons)
    {
        print_coupon_row(cp);
    }
}

/* GET /v1/sales/{id} adds the refunded_* fields to what checkout returns. */
void print_sale(const cJSON *s)
{
    char b1[128], b2[128], b3[64], b4[32], b5[32], b6[32], b7[32];
    const char *sale_id = j_str(s, "sale_id");
    const cJSON *member = j_get(s, "member");
    const cJSON *guide = j_get(s, "guide");
    const cJSON *lines = j_get(s, "lines");
    const cJSON *discounts = j_get(s, "discounts");
    const cJSON *points = j_get(s, "points");
    const cJSON *commission = j_get(s, "commission");
    const cJSON *refunded_lines = j_get(s, "refunded_lines");
    int dry_run = cJSON_IsTrue(j_get(s, "dry_run")) || sale_id == NULL;

    if (dry_run)
        printf("QUOTE (dry run) — nothing saved\n");
    else
        printf("SALE %s\n", print_clean(sale_id, b1, sizeof(b1)));
    printf("terminal %s, %s\n", print_clean(j_str(s, "terminal"), b1, sizeof(b1)),
           fmt_time_field(s, "created_at", b3, sizeof(b3)));
    if (cJSON_IsObject(member))
        printf("member   %s (%s), %" PRId64 " points available\n",
               print_clean(j_str(member, "member_id"), b1, sizeof(b1)),
               print_clean(j_str(member, "tier"), b2, sizeof(b2)),
               j_int_or(member, "points_available", 0));
    else
        printf("member   none\n");
    if (cJSON_IsObject(guide))
        printf("guide    %s (%s)\n", print_clean(j_str(guide, "guide_id"), b1, sizeof(b1)),
               print_clean(j_str(guide, "source"), b2, sizeof(b2)));
    else
        printf("guide    none\n");

    printf("\n%3s  %-20s %5s %10s %10s %10s %10s\n", "#", "SKU", "QTY", "PRICE", "DISCOUNT",
           "POINTS", "NET");
    const cJSON *ln;
    cJSON_ArrayForEach(ln, lines)
    {
        int64_t no = j_int_or(ln, "line_no", 0);
        printf("%3" PRId64 "  %-20s %5" PRId64 " %10s %10s %10s %10s%s\n", no,
               print_clean(j_str(ln, "sku"), b1, sizeof(b1)), j_int_or(ln, "qty", 0),
               fmt_money_field(ln, "unit_price", b4, sizeof(b4)),
               fmt_minus(j_int_or(ln, "discount", 0), b5, sizeof(b5)),
               fmt_minus(j_int_or(ln, "points_value", 0), b6, sizeof(b6)),
               fmt_money_field(ln, "net", b7, sizeof(b7)),
               list_has_int(refunded_lines, no) ? "  refunded" : "");
    }
    printf("\n");
    printf("subtotal       %12s\n", fmt_money_field(s, "subtotal", b4, sizeof(b4)));
    printf("discount       %12s\n", fmt_minus(j_int_or(s, "discount", 0), b4, sizeof(b4)));
    const cJSON *d;
    cJSON_ArrayForEach(d, discounts)
    {
        printf("  %-12s %12s  %s, lines %s\n", print_clean(j_str(d, "coupon_id"), b1, sizeof(b1)),
               fmt_minus(j_int_or(d, "amount", 0), b4, sizeof(b4)),
               print_clean(j_str(d, "kind"), b3, sizeof(b3)),
               fmt_list(j_get(d, "lines"), ",", "-", b2, sizeof(b2)));
    }
    int64_t requested = j_int_or(points, "requested", 0), spent = j_int_or(points, "spent", 0);
    if (requested > 0 || spent > 0) {
        const char *capped = j_str(points, "capped_by");
        printf("points         %12s  (%" PRId64 " points spent of %" PRId64 " requested%s%s)\n",
               fmt_minus(j_int_or(points, "value", 0), b4, sizeof(b4)), spent, requested,
               capped != NULL ? ", capped by " : "",
               capped != NULL ? print_clean(capped, b1, sizeof(b1)) : "");
    }
    printf("total          %12s\n", fmt_money_field(s, "total", b4, sizeof(b4)));
    printf("points earned  %12" PRId64 "\n", j_int_or(points, "earned", 0));
    if (cJSON_IsObject(commission))
        printf("commission     %12s  guide %s\n",
               fmt_money_field(commission, "amount", b4, sizeof(b4)),
               print_clean(j_str(commission, "guide_id"), b1, sizeof(b1)));
    if (j_get(s, "refunded_amount") != NULL)
        printf("refunded       %12s  lines %s\n",
               fmt_money_field(s, "refunded_amount", b4, sizeof(b4)),
               fmt_list(refunded_lines, ",", "none", b2, sizeof(b2)));
}

void print_refund(const cJSON *r)
{
    char b1[128], b2[128], b3[256], b4[32];
    const cJSON *points = j_get(r, "points");
    printf("REFUND %s of sale %s\n", print_clean(j_str(r, "refund_id"), b1, sizeof(b1)),
           print_clean(j_str(r, "sale_id"), b2, sizeof(b2)));
    printf("lines       %s\n", fmt_list(j_get(r, "lines"), ", ", "-", b3, sizeof(b3)));
    printf("amount      %s\n", fmt_money_field(r, "amount", b4, sizeof(b4)));
    printf("points      %" PRId64 " earned reversed, %" PRId64 " spent returned\n",
           j_int_or(points, "earned_reversed", 0), j_int_or(points, "spent_returned", 0));
    printf("commission  %s reversed\n", fmt_money_field(r, "commission_reversed", b4, sizeof(b4)));
    const cJSON *restored = j_get(r, "coupons_restored");
    if (cJSON_GetArraySize(restored) > 0)
        printf("coupons     restored: %s\n", fmt_list(restored, ", ", "", b3, sizeof(b3)));
    else
        printf("coupons     none restored\n");
}

void print_sales(const cJSON *list)
{
    char b1[128], b2[128], b3[64], b4[32], b5[32];
    const cJSON *sales = j_get(list, "sales");
    if (cJSON_GetArraySize(sales) == 0) {
        printf("no sales\n");
        return;
    }
    printf("%-24s %-19s  %-12s %12s %12s\n", "SALE", "TIME", "MEMBER", "TOTAL", "REFUNDED");
    const cJSON *s;
    cJSON_ArrayForEach(s, sales)
    {
        printf("%-24s %-19s  %-12s %12s %12s\n", print_clean(j_str(s, "sale_id"), b1, sizeof(b1)),
               fmt_time_field(s, "created_at", b3, sizeof(b3)),
               print_clean(j_str(s, "member_id"), b2, sizeof(b2)),
               fmt_money_field(s, "total", b4, sizeof(b4)),
               fmt_money_field(s, "refunded_amount", b5, sizeof(b5)));
    }
}

void print_commissions(const cJSON *g)
{
    char b1[128], b2[64], b3[64], b4[32], b5[128];
    const cJSON *days = j_get(g, "days");
    int64_t nsales = 0;
    const char *name = j_str(g, "name");
    printf("guide %s%s%s, %s .. %s\n", print_clean(j_str(g, "guide_id"), b1, sizeof(b1)),
           name != NULL ? " " : "", name != NULL ? print_clean(name, b5, sizeof(b5)) : "",
           print_clean(j_str(g, "from"), b2, sizeof(b2)),
           print_clean(j_str(g, "to"), b3, sizeof(b3)));
    printf("%-12s %6s %12s\n", "DAY", "SALES", "AMOUNT");
    const cJSON *d;
    cJSON_ArrayForEach(d, days)
    {
        int64_t k = j_int_or(d, "sales", 0);
        nsales += k;
        printf("%-12s %6" PRId64 " %12s\n", print_clean(j_str(d, "day"), b1, sizeof(b1)), k,
               fmt_money_field(d, "amount", b4, sizeof(b4)));
    }
    printf("%-12s %6" PRId64 " %12s\n", "total", nsales,
           fmt_money_field(g, "total", b4, sizeof(b4)));
    if (cJSON_IsTrue(j_get(g, "truncated")))
        printf("note: the server truncated the per-sale list (see --json)\n");
}

void print_status(const cJSON *st)
{
    char b1[128], b2[128], b3[128], b4[64];
    const cJSON *outbox = j_get(st, "outbox");
    const cJSON *cache = j_get(st, "cache");
    int64_t age;
    printf("store        %s / %s / %s\n", print_clean(j_str(st, "brand"), b1, sizeof(b1)),
           print_clean(j_str(st, "store"), b2, sizeof(b2)),
           print_clean(j_str(st, "terminal"), b3, sizeof(b3)));
    printf("version      %s, up %s\n", print_clean(j_str(st, "version"), b1, sizeof(b1)),
           fmt_duration(j_int_or(st, "uptime_s", 0), b4, sizeof(b4)));
    printf("HQ           %s\n",
           cJSON_IsTrue(j_get(st, "connected")) ? "connected" : "not connected");
    printf("outbox       %" PRId64 " queued", j_int_or(outbox, "depth", 0));
    if (j_int(outbox, "oldest_age_ms", &age) == 0)
        printf(", oldest %s", fmt_duration(age / 1000, b4, sizeof(b4)));
    printf("\n");
    printf("cache        %" PRId64 " members, %" PRId64 " guides, %" PRId64 " campaigns, %" PRId64
           " coupons\n",
           j_int_or(cache, "members", 0), j_int_or(cache, "guides", 0),
           j_int_or(cache, "campaigns", 0), j_int_or(cache, "coupons", 0));
    int64_t sales;
    if (j_int(st, "sales_today", &sales) == 0)
        printf("sales today  %" PRId64 "\n", sales);
    else if (j_int(st, "sales", &sales) == 0)
        printf("sales        %" PRId64 "\n", sales);
}
