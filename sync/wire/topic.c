/* topic: the protocol's MQTT topics; see topic.h. */
#include "topic.h"

#include <stdio.h>
#include <string.h>

#include "inifile.h"

static const char *const terminal_leaf[] = {
    [TOPIC_EV] = "ev", [TOPIC_ACK] = "ack", [TOPIC_STATUS] = "status"};

void topic_terminal(char *buf, size_t len, const char *brand, const char *store,
                    const char *terminal, enum topic_terminal_kind kind)
{
    snprintf(buf, len, "ml/%s/s/%s/%s/%s", brand, store, terminal, terminal_leaf[kind]);
}

void topic_inbox(char *buf, size_t len, const char *brand, const char *store)
{
    snprintf(buf, len, "ml/%s/s/%s/inbox", brand, store);
}

void topic_campaign(char *buf, size_t len, const char *brand, const char *campaign_id)
{
    snprintf(buf, len, "ml/%s/hq/campaign/%s", brand, campaign_id);
}

void topic_time(char *buf, size_t len, const char *brand)
{
    snprintf(buf, len, "ml/%s/hq/time", brand);
}

void topic_campaigns_filter(char *buf, size_t len, const char *brand)
{
    snprintf(buf, len, "ml/%s/hq/campaign/+", brand);
}

void topic_events_filter(char *buf, size_t len, const char *brand, const char *store,
                         const char *share_group)
{
    int shared = share_group != NULL && share_group[0] != '\0';
    snprintf(buf, len, "%s%s%sml/%s/s/%s/+/ev", shared ? "$share/" : "", shared ? share_group : "",
             shared ? "/" : "", brand, store ? store : "+");
}

int topic_id_valid(const char *id, size_t max, int dots)
{
    return inifile_valid_token(id, max, dots);
}

/* Copies the level at *p (up to the next '/') into out; advances past the '/'. */
static int take_level(const char **p, size_t max, char *out)
{
    const char *end = strchr(*p, '/');
    if (end == NULL)
        return -1;
    size_t n = (size_t)(end - *p);
    if (n == 0 || n > max)
        return -1;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p = end + 1;
    return topic_id_valid(out, max, 0) ? 0 : -1;
}

int topic_parse_events(const char *topic, const char *brand, size_t id_max, char *store,
                       char *terminal)
{
    size_t bl = strlen(brand);
    if (strncmp(topic, "ml/", 3) != 0 || strncmp(topic + 3, brand, bl) != 0 ||
        strncmp(topic + 3 + bl, "/s/", 3) != 0)
        return -1;
    const char *p = topic + 6 + bl;
    if (take_level(&p, id_max, store) != 0 || take_level(&p, id_max, terminal) != 0)
        return -1;
    return strcmp(p, "ev") == 0 ? 0 : -1;
}

const char *topic_campaign_id(const char *topic, const char *brand)
{
    size_t bl = strlen(brand);
    if (strncmp(topic, "ml/", 3) != 0 || strncmp(topic + 3, brand, bl) != 0 ||
        strncmp(topic + 3 + bl, "/hq/campaign/", 13) != 0)
        return NULL;
    const char *id = topic + 3 + bl + 13;
    return topic_id_valid(id, TOPIC_ID_MAX, 1) ? id : NULL;
}
