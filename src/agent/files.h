/* The agent's files helper (files.c): `airlock-agent --files OP ROOT REL [ARGS...]`. */
#pragma once
#include <stdbool.h>

/* Runs one file operation and returns the exit status (failures exit(1) themselves). */
int files_main(int argc, char **argv);

/* The environment variable naming an exec's outputs directory (artifacts). */
#define FILES_OUTPUTS_ENV "AIRLOCK_OUTPUTS_DIR"

/* The value of FILES_OUTPUTS_ENV in envp as a new string, or NULL. */
char *files_outputs_dir(const char *const *envp);

/* True when the outputs directory at path holds anything; never follows a link at its end and
 * never blocks (a FIFO there is not a directory). An empty one is removed. */
bool files_outputs_present(const char *path);
