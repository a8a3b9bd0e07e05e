/* `vigil anomaly-score`: the NAB tool over collector/anomaly/engine.h. */
#ifndef VIGIL_ANOMALY_NAB_CLI_H
#define VIGIL_ANOMALY_NAB_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collector/anomaly/engine.h"

/* Entry point of the subcommand. argv[0] is the program (or "anomaly-score");
 * a leading "anomaly-score" in argv[1] is skipped too. Returns the exit
 * status: 0 ok, 1 on any error (printed as file:line: message on stderr). */
int vg_anomaly_score_main(int argc, char **argv);

/* Scores one CSV file into out_path; errors go to `err`. `points` (may be
 * NULL) is incremented per data row. 0 or a negative VG_E* code. */
int vg_anomaly_score_file(const vg_anom_config_t *cfg, const char *in_path, const char *out_path, FILE *err,
                          uint64_t *points);

/* "YYYY-MM-DD HH:MM:SS[.frac]" (or with 'T'), UTC, to ns since the epoch. */
int vg_anomaly_parse_ts(const char *s, size_t len, int64_t *ns);

#endif
