/*
 * api: the local HTTP API (docs/api.md) on libmicrohttpd, driven by the agent's event
 * loop: no MHD thread, so every handler runs on the thread that owns the database.
 */
#ifndef ML_API_H
#define ML_API_H

#include <stdint.h>

#include "ctx.h"
#include "ml_err.h"

struct api;

/* Binds [agent] api_listen. Caller frees with api_stop(). */
ml_err api_start(struct ml_ctx *ctx, struct api **ret_api, char *errbuf, size_t errlen);

/* The fd to poll for input (an epoll fd that covers the listen socket and connections). */
int api_poll_fd(struct api *api);

/* Milliseconds until api_run() must be called even without input; -1: no deadline. */
int api_timeout_ms(struct api *api);

/* Processes whatever is ready; never blocks. */
void api_run(struct api *api);

/* NULL-safe. Closes connections and the socket. */
void api_stop(struct api *api);

#endif
