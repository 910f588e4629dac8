/* inifile: strict INI reading with line numbers; see inifile.h. */
#include "inifile.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"

struct parse_ctx {
    const char *const *sections;
    inifile_apply_fn apply;
    void *user;
    char *errbuf;
    size_t errlen;
    const char *path;
    FILE *file;
    int lineno;
    int failed;
};

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *ctx = user;
    const char *why = "";
    if (ctx->failed)
        return 0;
    int rc = ctx->apply(ctx->user, section, name, value, &why);
    if (rc == 0)
        return 1;
    ctx->failed = 1;
    if (rc == -2)
        snprintf(ctx->errbuf, ctx->errlen, "%s:%d: unknown key [%s] %s", ctx->path, ctx->lineno,
                 section, name);
    else
        snprintf(ctx->errbuf, ctx->errlen, "%s:%d: bad value for [%s] %s: %s", ctx->path,
                 ctx->lineno, section, name, why);
    return 0;
}

static int known_section(const struct parse_ctx *ctx, const char *name, size_t len)
{
    for (const char *const *s = ctx->sections; *s != NULL; s++)
        if (strlen(*s) == len && strncmp(*s, name, len) == 0)
            return 1;
    return 0;
}

/*
 * Line reader for inih: counts lines (Debian's inih does not pass line numbers to the
 * handler), refuses a line longer than inih's buffer instead of letting it be split, and
 * refuses unknown sections (inih reports sections only through their keys).
 */
static char *read_line(char *str, int num, void *stream)
{
    struct parse_ctx *ctx = stream;
    char line[1024];
    if (ctx->failed || fgets(line, sizeof(line), ctx->file) == NULL)
        return NULL;
    ctx->lineno++;
    size_t n = strlen(line);
    if (n >= (size_t)num) {
        ctx->failed = 1;
        snprintf(ctx->errbuf, ctx->errlen, "%s:%d: line longer than %d bytes", ctx->path,
                 ctx->lineno, num - 2);
        return NULL;
    }
    const char *p = line + strspn(line, " \t");
    if (*p == '[') {
        size_t len = strcspn(p + 1, "]");
        if (!known_section(ctx, p + 1, len)) {
            ctx->failed = 1;
            snprintf(ctx->errbuf, ctx->errlen, "%s:%d: unknown section [%.*s]", ctx->path,
                     ctx->lineno, (int)(len > 40 ? 40 : len), p + 1);
            return NULL;
        }
    }
    memcpy(str, line, n + 1);
    return str;
}

int inifile_valid_token(const char *v, size_t max, int dots)
{
    size_t n = strlen(v);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || (dots && c == '.')))
            return 0;
    }
    return 1;
}

int inifile_valid_id(const char *v, size_t max)
{
    return inifile_valid_token(v, max, 0);
}

int inifile_parse_listen(const char *v, char *host, size_t hostlen, uint16_t *ret_port)
{
    const char *colon = strrchr(v, ':');
    int64_t port = 0;
    if (colon == NULL || num_parse_i64(colon + 1, 1, 65535, &port) != 0)
        return -1;
    const char *h = v;
    size_t hl = (size_t)(colon - v);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') { /* [::1]:8787 */
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *ret_port = (uint16_t)port;
    return 0;
}

ml_err inifile_load(const char *path, const char *const *sections, inifile_apply_fn apply,
                    void *user, char *errbuf, size_t errlen)
{
    struct parse_ctx ctx = {.sections = sections,
                            .apply = apply,
                            .user = user,
                            .errbuf = errbuf,
                            .errlen = errlen,
                            .path = path};
    ctx.file = fopen(path, "re");
    if (ctx.file == NULL) {
        snprintf(errbuf, errlen, "%s: cannot open config: %s", path, strerror(errno));
        return ML_CONFIG;
    }
    int rc = ini_parse_stream(read_line, &ctx, on_entry, &ctx);
    fclose(ctx.file);
    if (ctx.failed)
        return ML_CONFIG;
    if (rc != 0) {
        snprintf(errbuf, errlen, "%s:%d: syntax error (expected [section] or key = value)", path,
                 rc);
        return ML_CONFIG;
    }
    return ML_OK;
}
