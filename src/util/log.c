#include "airlock/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static enum log_level current = LOG_LVL_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
        current = level;
}

int log_level_parse(const char *name, enum log_level *ret)
{
        for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcasecmp(name, names[i]) == 0) {
                        *ret = (enum log_level)i;
                        return 0;
                }
        return -1;
}

void log_write(enum log_level level, const char *func, const char *fmt, ...)
{
        char line[2048];
        va_list ap;
        int n;

        if (level > current)
                return;
        n = snprintf(line, sizeof(line), "%s %s: ", names[level], func);
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        /* One record per line, whatever the message holds. */
        for (char *p = line; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        fprintf(stderr, "%s\n", line);
}
