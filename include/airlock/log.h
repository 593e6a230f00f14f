/* One-line log records with a level and the calling function, fit for the journal. */
#pragma once

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level level);
/* Parse "error|warn|info|debug"; returns < 0 on an unknown name. */
int log_level_parse(const char *name, enum log_level *ret);
void log_write(enum log_level level, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_write(LOG_LVL_ERROR, __func__, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LVL_WARN, __func__, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LVL_INFO, __func__, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LVL_DEBUG, __func__, __VA_ARGS__)
