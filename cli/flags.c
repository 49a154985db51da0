/*  flags: argument and duration parsing for the zkv command. */
#include "flags.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int zkv_u64_parse(const char *text, uint64_t *value)
{
    if (!text || *text < '0' || *text > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end)
        return -1;
    *value = v;
    return 0;
}

int zkv_duration_parse(const char *text, int64_t *ms)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1000}};
    if (!text || !((*text >= '0' && *text <= '9') || *text == '.'))
        return -1;
    char *end;
    errno = 0;
    double number = strtod(text, &end);
    if (errno || !isfinite(number) || end == text)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) != 0)
            continue;
        double total = number * units[i].ms;
        if (total < 1 || total > (double) ZKV_DURATION_MS_MAX)
            return -1;
        *ms = (int64_t) llround(total);
        return 0;
    }
    return -1;
}

static const zkv_flag_t *s_find(const zkv_flag_t *const *tables, const char *name, size_t length,
                                char short_name)
{
    for (size_t t = 0; tables[t]; t++)
        for (const zkv_flag_t *f = tables[t]; f->name; f++) {
            if (short_name ? f->short_name == short_name
                           : strlen(f->name) == length && strncmp(f->name, name, length) == 0)
                return f;
        }
    return NULL;
}

static int s_set(const zkv_flag_t *f, const char *value, char *err, size_t err_size)
{
    uint64_t max = f->max ? f->max : UINT64_MAX;
    switch (f->type) {
    case ZKV_FLAG_BOOL: *(bool *) f->target = true; break;
    case ZKV_FLAG_STRING: *(const char **) f->target = value; break;
    case ZKV_FLAG_U64:
        if (zkv_u64_parse(value, (uint64_t *) f->target) || *(uint64_t *) f->target < f->min ||
            *(uint64_t *) f->target > max) {
            snprintf(err, err_size, "--%s wants a whole number from %llu to %llu, not '%.64s'",
                     f->name, (unsigned long long) f->min, (unsigned long long) max, value);
            return -1;
        }
        break;
    case ZKV_FLAG_DURATION:
        if (zkv_duration_parse(value, (int64_t *) f->target)) {
            snprintf(err, err_size, "--%s wants a duration such as 500ms, 5s or 2m, not '%.64s'",
                     f->name, value);
            return -1;
        }
        break;
    case ZKV_FLAG_RATIO: {
        char *end;
        double v = strtod(value, &end);
        if (end == value || *end || !(v >= 0 && v <= 1)) {
            snprintf(err, err_size, "--%s wants a number from 0 to 1, not '%.64s'", f->name, value);
            return -1;
        }
        *(double *) f->target = v;
        break;
    }
    }
    if (f->seen)
        *f->seen = true;
    return 0;
}

/*  One flag at argv[*i]; advances *i past its value. */
static int s_flag(int argc, char **argv, int *i, const zkv_flag_t *const *tables, char *err,
                  size_t err_size)
{
    const char *arg = argv[*i];
    bool is_long = arg[1] == '-';
    const char *name = arg + (is_long ? 2 : 1);
    const char *eq = is_long ? strchr(name, '=') : NULL;
    size_t length = eq ? (size_t) (eq - name) : strlen(name);
    const zkv_flag_t *f = NULL;
    if (is_long)
        f = s_find(tables, name, length, 0);
    else if (length == 1)
        f = s_find(tables, NULL, 0, name[0]);
    if (!f) {
        size_t shown = eq ? (size_t) (eq - arg) : strlen(arg);
        snprintf(err, err_size, "unknown flag '%.*s'", (int) (shown > 64 ? 64 : shown), arg);
        return -1;
    }
    if (f->type == ZKV_FLAG_BOOL) {
        if (eq) {
            snprintf(err, err_size, "flag --%s takes no value", f->name);
            return -1;
        }
        return s_set(f, NULL, err, err_size);
    }
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
        if (*i + 1 >= argc) {
            snprintf(err, err_size, "flag --%s needs a value (%s)", f->name, f->value_name);
            return -1;
        }
        value = argv[++*i];
    }
    return s_set(f, value, err, err_size);
}

static int s_positional(zkv_args_t *args, char *arg, char *err, size_t err_size)
{
    if (args->count == ZKV_FLAGS_POSITIONAL_MAX) {
        snprintf(err, err_size, "too many arguments");
        return -1;
    }
    args->positional[args->count++] = arg;
    return 0;
}

int zkv_flags_parse(int argc, char **argv, const zkv_flag_t *const *tables, bool stop_at_positional,
                    zkv_args_t *args, char *err, size_t err_size)
{
    memset(args, 0, sizeof *args);
    bool flags_done = false;
    int i;
    for (i = 0; i < argc; i++) {
        char *arg = argv[i];
        bool is_flag = !flags_done && arg[0] == '-' && arg[1] != '\0';
        if (is_flag && strcmp(arg, "--") == 0) {
            if (stop_at_positional)
                break;
            flags_done = true;
        } else if (is_flag && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)) {
            args->help = true;
        } else if (is_flag) {
            if (s_flag(argc, argv, &i, tables, err, err_size))
                return -1;
        } else if (stop_at_positional) {
            break;
        } else if (s_positional(args, arg, err, err_size)) {
            return -1;
        }
    }
    args->consumed = i;
    return 0;
}

void zkv_flags_print(FILE *out, const zkv_flag_t *table)
{
    for (const zkv_flag_t *f = table; f->name; f++) {
        char left[64];
        int n = f->short_name ? snprintf(left, sizeof left, "-%c, --%s", f->short_name, f->name)
                              : snprintf(left, sizeof left, "    --%s", f->name);
        if (f->type != ZKV_FLAG_BOOL && n > 0 && (size_t) n < sizeof left)
            snprintf(left + n, sizeof left - (size_t) n, " %s", f->value_name);
        fprintf(out, "  %-34s %s\n", left, f->help);
    }
}
