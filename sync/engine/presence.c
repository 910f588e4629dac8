/* presence: a terminal's retained status message; see presence.h. */
#include "presence.h"

#include <stdio.h>

static int fit(int n, size_t len)
{
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int presence_message(char *buf, size_t len, const struct presence *p)
{
    int n = snprintf(buf, len,
                     "{\"v\":1,\"state\":\"%s\",\"version\":\"%s\",\"store\":\"%s\","
                     "\"terminal\":\"%s\",\"outbox_depth\":%lld,\"oldest_unacked_age_ms\":%lld,"
                     "\"outbox_warning\":%s,\"at\":%lld}",
                     p->online ? "online" : "offline", p->version, p->store, p->terminal,
                     (long long)p->outbox_depth, (long long)p->oldest_unacked_age_ms,
                     p->outbox_warning ? "true" : "false", (long long)p->at);
    return fit(n, len);
}

int presence_will(char *buf, size_t len, const char *version, const char *store,
                  const char *terminal)
{
    int n = snprintf(buf, len,
                     "{\"v\":1,\"state\":\"offline\",\"version\":\"%s\",\"store\":\"%s\","
                     "\"terminal\":\"%s\",\"reason\":\"lost\"}",
                     version, store, terminal);
    return fit(n, len);
}
