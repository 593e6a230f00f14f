/* The agent's files helper (files.c): `airlock-agent --files OP ROOT REL [ARGS...]`. */
#pragma once

/* Runs one file operation and returns the exit status (failures exit(1) themselves). */
int files_main(int argc, char **argv);

/* The environment variable naming an exec's outputs directory (artifacts). */
#define FILES_OUTPUTS_ENV "AIRLOCK_OUTPUTS_DIR"

/* Makes the exec's outputs directory named by FILES_OUTPUTS_ENV in envp, if any (best effort;
 * between fork and execve: no allocation). */
void files_prepare_outputs(const char *const *envp);
