/* Stand-in for `vigil anomaly-score` until the vigil CLI dispatches to it. */
#include "collector/anomaly/nab_cli.h"

int main(int argc, char **argv) { return vg_anomaly_score_main(argc, argv); }
