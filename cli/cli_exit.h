/*
 * cli_exit: the exit statuses of `memberlink`, a contract with scripts (docs/api.md). Every
 * module of cli/ returns one of these, so a command's result is its exit status as is.
 */
#ifndef ML_CLI_EXIT_H
#define ML_CLI_EXIT_H

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_API = 1,         /* the API answered 4xx/5xx */
    CLI_EXIT_USAGE = 2,       /* usage, config or local error */
    CLI_EXIT_UNREACHABLE = 3, /* no connection, timeout, or an unusable answer */
};

#endif
