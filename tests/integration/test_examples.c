/*  integration_examples: the programs of examples/ run against a 3-node
    cluster as a user would run them, with the cluster's endpoints, and do
    what they say: basic's put, get, cas, scan and delete, and pipeline's
    2,000 puts with 128 in flight, read back and range-deleted. Then node 1
    (the first endpoint) is killed and basic runs again: the library finds
    the others. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/*  Run command, its output to path; the exit status. */
static int s_run(const char *command, const char *path)
{
    char line[2048];
    snprintf(line, sizeof line, "%s > '%s' 2>&1", command, path);
    int rc = system(line);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *s_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 65536);
    if (f && text)
        text[fread(text, 1, 65535, f)] = 0;
    if (f)
        fclose(f);
    return text;
}

static void s_example(zkv_cluster_t *cluster, const char *program, const char *args,
                      const char *expect)
{
    char command[1024], path[512];
    snprintf(command, sizeof command, "%s %s", program, args);
    snprintf(path, sizeof path, "%s/example.out", zkv_cluster_dir(cluster));
    int rc = s_run(command, path);
    char *out = s_slurp(path);
    CHECK(rc == 0 && out && strstr(out, expect), "`%s` exited %d:\n%s", command, rc,
          out ? out : "");
    h_note("%s: exit 0, %.*s", strrchr(program, '/') + 1, (int) strcspn(strstr(out, expect), "\n"),
           strstr(out, expect));
    free(out);
}

int main(void)
{
    uint32_t leader = 0;
    zkv_cluster_t *cluster = h_cluster_start(&(zkv_cluster_config_t){.name = "examples"}, &leader);
    char args[1024];
    snprintf(args, sizeof args, "'%s'", zkv_cluster_endpoints(cluster));
    s_example(cluster, ZKV_EXAMPLE_BASIC, args, "delete other                 ok");
    snprintf(args, sizeof args, "2000 128 '%s'", zkv_cluster_endpoints(cluster));
    s_example(cluster, ZKV_EXAMPLE_PIPELINE, args, "deleted 2000 keys");
    CHECK(zkv_cluster_kill(cluster, 1) == 0, "kill node 1");
    CHECK(zkv_cluster_wait_leader(cluster, H_LEADER_MS), "no leader without node 1");
    snprintf(args, sizeof args, "'%s'", zkv_cluster_endpoints(cluster));
    s_example(cluster, ZKV_EXAMPLE_BASIC, args, "delete other                 ok");
    CHECK(zkv_cluster_start(cluster, 1) == 0, "restart node 1");
    /* Up and caught up before the clean stop: a node stopped while it boots is not clean. */
    CHECK(zkv_cluster_wait_applied(cluster, 1, 1, H_CATCH_UP_MS) == 0, "node 1 did not catch up");
    h_cluster_finish(&cluster);
    printf("integration_examples: ok\n");
    return 0;
}
