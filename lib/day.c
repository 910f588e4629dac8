/* day: local calendar days and ISO 8601 times; see day.h. */
#include "day.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "num.h"

/* Whole seconds of ms, rounded down (a time before the epoch is in the second before);
 * written so that INT64_MIN does not overflow. */
static time_t seconds(int64_t ms)
{
    return (time_t)(ms >= 0 ? ms / 1000 : (ms + 1) / 1000 - 1);
}

void day_of(int64_t ms, char out[DAY_TEXT_LEN + 1])
{
    time_t t = seconds(ms);
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL || strftime(out, DAY_TEXT_LEN + 1, "%Y-%m-%d", &tm) == 0)
        snprintf(out, DAY_TEXT_LEN + 1, "0000-00-00");
}

int day_time_text(int64_t ms, char *buf, size_t len)
{
    time_t t = seconds(ms);
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        return -1;
    return 0;
}

int day_bounds(int64_t ms, int64_t *ret_start, int64_t *ret_end)
{
    time_t t = seconds(ms);
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL)
        return -1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    struct tm next = tm;
    next.tm_mday++;
    /* -1 is mktime()'s failure: a local midnight 1 s before the epoch needs a zone offset
     * by seconds. */
    int64_t start = (int64_t)mktime(&tm), end = (int64_t)mktime(&next);
    if (start == -1 || end == -1 || start < INT64_MIN / 1000 || end > INT64_MAX / 1000)
        return -1;
    *ret_start = start * 1000;
    *ret_end = end * 1000;
    return 0;
}

int64_t day_from_civil(int64_t y, int64_t m, int64_t d)
{
    /* H. Hinnant's days_from_civil. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int valid_date(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] + (m == 2 && leap);
}

/* Exactly n digits at *p; advances. */
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

int day_parse(const char *s, int min_year, int max_year, int64_t *ret_days)
{
    const char *p = s;
    int y, m, d;
    if (strlen(s) != DAY_TEXT_LEN || take_digits(&p, 4, &y) || *p++ != '-' ||
        take_digits(&p, 2, &m) || *p++ != '-' || take_digits(&p, 2, &d))
        return -1;
    if (y < min_year || y > max_year || !valid_date(y, m, d))
        return -1;
    if (ret_days != NULL)
        *ret_days = day_from_civil(y, m, d);
    return 0;
}

int day_parse_time(const char *v, int64_t max_ms, int64_t *ret)
{
    size_t len = strlen(v);
    if (len > 0 && strspn(v, "0123456789") == len)
        return num_parse_i64(v, 0, max_ms, ret);
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
            /* +HH, +HHMM or +HH:MM; a colon needs its minutes. */
            if (*p == ':') {
                p++;
                if (take_digits(&p, 2, &om))
                    return -1;
            } else if (*p >= '0' && *p <= '9' && take_digits(&p, 2, &om)) {
                return -1;
            }
        }
    }
    if (*p != '\0' || y < 1970 || !valid_date(y, mo, d) || h > 23 || mi > 59 || s > 59 || oh > 23 ||
        om > 59)
        return -1;
    int64_t t = day_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    t -= sign * (oh * 3600 + om * 60);
    t = t * 1000 + ms;
    if (t < 0 || t > max_ms)
        return -1;
    *ret = t;
    return 0;
}
