/*  register_sim: a random walk of processes over an atomic register per key,
    written out as history events. The register changes only in s_apply,
    which runs between an operation's invoke and its completion (or, for an
    operation its client gave up on, at some later tick or never). */
#include "register_sim.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lincheck.h"
#include "splitmix.h"

typedef struct {
    uint64_t s;
} s_rng_t;

static uint64_t s_rand(s_rng_t *rng)
{
    return zkv_splitmix64(&rng->s);
}

static int s_below(s_rng_t *rng, int n)
{
    return (int) (s_rand(rng) % (uint64_t) n);
}

static bool s_chance(s_rng_t *rng, int percent)
{
    return s_below(rng, 100) < percent;
}

#define S_SIM_GHOSTS_MAX 256
#define S_ABSENT (-1)

typedef struct {
    bool busy;
    bool applied;
    zkv_lincheck_f_t f;
    int key;
    int value;    /* put, cas: value written; get: value read once applied */
    int expected; /* cas */
    bool cas_ok;
} s_sim_op_t;

/*  An operation whose client gave up (info) and that takes effect later. */
typedef struct {
    s_sim_op_t op;
    long tick;
} s_ghost_t;

typedef struct {
    s_rng_t rng;
    FILE *out;
    int processes;
    int keys;
    int info_percent; /* half given up before applying, half after */
    int reg[ZKV_LINCHECK_SIM_KEYS_MAX];
    int next_value;
    long long time_ns;
    s_sim_op_t procs[ZKV_LINCHECK_SIM_PROCESSES_MAX];
    s_ghost_t ghosts[S_SIM_GHOSTS_MAX];
    int ghost_count;
} s_sim_t;

static const char *const s_f_json[] = {"put", "get", "delete", "cas"};

static void s_json_value(FILE *out, int value)
{
    if (value == S_ABSENT)
        fputs("null", out);
    else
        fprintf(out, "\"v%d\"", value);
}

static void s_emit(s_sim_t *sim, int p, const char *type)
{
    const s_sim_op_t *op = &sim->procs[p];
    bool writes = op->f == ZKV_LINCHECK_PUT || op->f == ZKV_LINCHECK_CAS;
    bool read_result = op->f == ZKV_LINCHECK_GET && strcmp(type, "ok") == 0;
    sim->time_ns += 1 + s_below(&sim->rng, 1000);
    fprintf(sim->out, "{\"process\":%d,\"type\":\"%s\",\"f\":\"%s\",\"key\":\"k%d\",\"value\":", p,
            type, s_f_json[op->f], op->key);
    s_json_value(sim->out, writes || read_result ? op->value : S_ABSENT);
    fputs(",\"expected\":", sim->out);
    s_json_value(sim->out, op->f == ZKV_LINCHECK_CAS ? op->expected : S_ABSENT);
    fprintf(sim->out, ",\"time\":%lld}\n", sim->time_ns);
}

/*  The atomic step: the register changes here and only here. */
static void s_apply(s_sim_t *sim, s_sim_op_t *op)
{
    int *reg = &sim->reg[op->key];
    switch (op->f) {
    case ZKV_LINCHECK_PUT: *reg = op->value; break;
    case ZKV_LINCHECK_DELETE: *reg = S_ABSENT; break;
    case ZKV_LINCHECK_GET: op->value = *reg; break;
    case ZKV_LINCHECK_CAS:
        op->cas_ok = *reg == op->expected;
        if (op->cas_ok)
            *reg = op->value;
        break;
    }
    op->applied = true;
}

static void s_sim_invoke(s_sim_t *sim, int p)
{
    s_sim_op_t *op = &sim->procs[p];
    int r = s_below(&sim->rng, 100);
    *op = (s_sim_op_t){true,
                       false,
                       r < 35   ? ZKV_LINCHECK_PUT
                       : r < 70 ? ZKV_LINCHECK_GET
                       : r < 80 ? ZKV_LINCHECK_DELETE
                                : ZKV_LINCHECK_CAS,
                       s_below(&sim->rng, sim->keys),
                       S_ABSENT,
                       S_ABSENT,
                       false};
    if (op->f == ZKV_LINCHECK_PUT || op->f == ZKV_LINCHECK_CAS)
        op->value = sim->next_value++;
    if (op->f == ZKV_LINCHECK_CAS && s_chance(&sim->rng, 60))
        op->expected = sim->reg[op->key];
    else if (op->f == ZKV_LINCHECK_CAS && sim->next_value > 1)
        op->expected = s_chance(&sim->rng, 20) ? S_ABSENT : s_below(&sim->rng, sim->next_value - 1);
    s_emit(sim, p, "invoke");
}

/*  The client gives up on an operation that has not taken effect; it may
    still take effect later, or never. */
static void s_sim_give_up(s_sim_t *sim, int p, long tick)
{
    s_sim_op_t *op = &sim->procs[p];
    s_emit(sim, p, "info");
    if (op->f != ZKV_LINCHECK_GET && sim->ghost_count < S_SIM_GHOSTS_MAX && s_chance(&sim->rng, 50))
        sim->ghosts[sim->ghost_count++] = (s_ghost_t){*op, tick + 1 + s_below(&sim->rng, 40)};
    op->busy = false;
}

static void s_sim_ghosts(s_sim_t *sim, long tick)
{
    for (int i = 0; i < sim->ghost_count;) {
        if (sim->ghosts[i].tick > tick) {
            i++;
            continue;
        }
        s_apply(sim, &sim->ghosts[i].op);
        sim->ghosts[i] = sim->ghosts[--sim->ghost_count];
    }
}

static void s_sim_tick(s_sim_t *sim, long tick)
{
    s_sim_ghosts(sim, tick);
    int p = s_below(&sim->rng, sim->processes);
    s_sim_op_t *op = &sim->procs[p];
    if (!op->busy) {
        if (s_chance(&sim->rng, 70))
            s_sim_invoke(sim, p);
        return;
    }
    int r = s_below(&sim->rng, 100);
    if (!op->applied) {
        if (r < sim->info_percent / 2)
            s_sim_give_up(sim, p, tick);
        else if (r < sim->info_percent / 2 + 3) {
            s_emit(sim, p, "fail");
            op->busy = false;
        } else if (r < 55)
            s_apply(sim, op);
        return;
    }
    if (r >= 50)
        return;
    bool info = s_chance(&sim->rng, sim->info_percent / 2);
    s_emit(sim, p, info ? "info" : op->f == ZKV_LINCHECK_CAS && !op->cas_ok ? "fail" : "ok");
    op->busy = false;
}

char *zkv_lincheck_sim_history(const zkv_lincheck_sim_params_t *params, size_t *size_p)
{
    assert(params->processes >= 1 && params->processes <= ZKV_LINCHECK_SIM_PROCESSES_MAX);
    assert(params->keys >= 1 && params->keys <= ZKV_LINCHECK_SIM_KEYS_MAX);
    s_sim_t *sim = calloc(1, sizeof *sim);
    char *text = NULL;
    if (!sim)
        return NULL;
    *sim = (s_sim_t){{params->seed}, NULL, params->processes, params->keys, params->info_percent};
    for (int k = 0; k < sim->keys; k++)
        sim->reg[k] = S_ABSENT;
    sim->out = open_memstream(&text, size_p);
    for (long t = 0; sim->out && t < params->ticks; t++)
        s_sim_tick(sim, t);
    if (!sim->out || fclose(sim->out) != 0) {
        free(text);
        text = NULL;
    }
    free(sim);
    return text;
}
