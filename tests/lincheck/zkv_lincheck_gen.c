/*  zkv-lincheck-gen: writes a random linearizable history (register_sim) to
    stdout, to measure zkv-lincheck on large inputs.
    usage: zkv-lincheck-gen SEED PROCESSES KEYS TICKS INFO_PERCENT */
#include <stdio.h>
#include <stdlib.h>

#include "register_sim.h"

static int s_arg(const char *text, long min, long max, long *out)
{
    char *end;
    *out = strtol(text, &end, 10);
    return *end || end == text || *out < min || *out > max ? -1 : 0;
}

int main(int argc, char **argv)
{
    long v[5];
    static const long max[5] = {1L << 62, ZKV_LINCHECK_SIM_PROCESSES_MAX, ZKV_LINCHECK_SIM_KEYS_MAX,
                                1L << 40, 100};
    int bad = argc != 6;
    for (int i = 0; !bad && i < 5; i++)
        bad = s_arg(argv[i + 1], i == 0 || i == 4 ? 0 : 1, max[i], &v[i]);
    if (bad) {
        fprintf(stderr, "usage: zkv-lincheck-gen SEED PROCESSES KEYS TICKS INFO_PERCENT\n");
        return 2;
    }
    zkv_lincheck_sim_params_t params = {(uint64_t) v[0], (int) v[1], (int) v[2], v[3], (int) v[4]};
    size_t size;
    char *text = zkv_lincheck_sim_history(&params, &size);
    if (!text) {
        fprintf(stderr, "zkv-lincheck-gen: out of memory\n");
        return 2;
    }
    int rc = fwrite(text, 1, size, stdout) == size && fflush(stdout) == 0 ? 0 : 2;
    free(text);
    return rc;
}
