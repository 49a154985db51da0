/*  nodesim: whole zkv nodes under a seeded simulation, in the manner of
    FoundationDB's simulator and TigerBeetle's VOPR.

    Each node is zkvd's own log, storage, replication and client handlers
    (the code the actors run) on an in-memory file system that models what
    a crash keeps (core/fs_mem). One thread runs every node: a scheduler driven by one
    splitmix64 stream picks, step by step, which queued message an actor
    handles next, when an actor ends its round (the log actor's sync, the
    replication actor's Ready), when peer messages arrive (delayed,
    reordered, dropped, links cut and left dead until they are made again),
    when ticks come, and when a node crashes (losing whatever its disk had
    not synced, possibly a torn tail) and restarts from what was durable,
    and when its disk fills or fails calls with EIO.
    It aims at the points of a snapshot install: a Ready delayed after a
    snapshot's last chunk (more chunks step into it), a crash where the
    install replaces a log of another history, a cut leader given a burst
    of writes that its log keeps past the others' next snapshot.
    Clients with sessions speak the client protocol to each node's client
    actor (its handler too): they open a session, send writes to whichever
    node they believe leads, retry with the same sequence, read through
    ReadIndex, and record a history.

    After every step: at most one leader per term; no two nodes apply
    different entries at one index; a node that crashed boots again; a
    node stops only on a full or failing disk; a snapshot received in full
    installs unless the disk failed. At the
    end, with faults healed: every node applies the same log to the same
    state (digests), and the history is linearizable per key (tests/lincheck),
    so no acknowledged write was lost and no retry applied twice. A failing
    seed prints the command that replays it. */
#ifndef ZKV_NODESIM_H
#define ZKV_NODESIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    uint64_t seed;
    uint32_t nodes;   /* 3 or 5 */
    uint32_t steps;   /* with faults, then a quiet phase */
    bool trace;       /* print what happens */
    uint32_t planted; /* 0, or a planted bug the checks must catch (nodesim_main.c) */
} ns_options_t;

typedef struct {
    uint64_t steps;
    uint64_t delivered; /* inproc messages handled */
    uint64_t packets;   /* peer messages delivered */
    uint64_t crashes;
    uint64_t torn; /* crashes that kept a torn tail */
    uint64_t cuts;
    uint64_t ops; /* client operations completed */
    uint64_t ok_writes;
    uint64_t info;           /* client operations of unknown outcome */
    uint64_t installs;       /* snapshots installed from a leader */
    uint64_t snapshots;      /* written by a node's snapshot writer */
    uint64_t late_snapshots; /* ... after its storage applied more or installed */
    uint64_t stale_installs; /* over a log holding other entries past the snapshot */
    uint64_t leaders;        /* leaders elected */
    uint64_t lost_tails;     /* followers restarted without their last records */
    uint64_t full_disks;     /* disks that filled */
    uint64_t disk_stops;     /* nodes that stopped on a full or failing disk (and came back) */
    uint64_t failing_disks;  /* disks armed to fail a call (or every call after it) with EIO */
    uint64_t mid_call;       /* crashes inside a file system call */
    uint64_t bad_peer;       /* peer messages no node of ours sends (an entry over the limit) */
    uint64_t bursts; /* cut leaders handed a burst of writes of a client without a session */
    uint64_t burst_writes;
    uint64_t watch_events;   /* published by the nodes' watch handlers */
    uint64_t watch_cut_offs; /* their streams restarted (resets) */
    uint64_t leases;         /* granted to the lease client */
    uint64_t expiries;       /* revokes proposed by a leader's lessor */
} ns_stats_t;

/*  Run one seed. 0 when every check held; otherwise 1 with the violation
    written to err (and the replay command to out). */
int ns_run(const ns_options_t *options, ns_stats_t *stats, FILE *out);

#endif
