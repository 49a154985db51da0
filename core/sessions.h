/*  sessions: per-client memory of write results, so that a retried write is
    answered from memory instead of applied twice (Raft thesis, section 6.3).
    Used by kvstore; deterministic, driven only by log indexes. */
#ifndef ZKV_SESSIONS_H
#define ZKV_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  The result of one write, as first applied. */
typedef struct {
    uint64_t sequence;
    int status;
    bool found;
    uint64_t index;
    uint64_t count; /* keys a range delete removed */
    uint8_t *data;  /* a put's previous value or a transaction's results; owned by the table */
    size_t data_size;
} zkv_stored_result_t;

/*  Bytes of data one stored result may hold. */
#define ZKV_STORED_DATA_SIZE_MAX (4u * 1024 * 1024)

typedef struct zkv_sessions_t zkv_sessions_t;

/*  At most max_sessions clients, each with at most window results. */
zkv_sessions_t *zkv_sessions_new(size_t max_sessions, size_t window);
void zkv_sessions_destroy(zkv_sessions_t **self_p);

size_t zkv_sessions_count(const zkv_sessions_t *self);

/*  Open client_id's session at log index (nothing changes but its activity
    when it is open already). When the table is full the least recently
    active session is forgotten: its later writes are refused, never applied
    twice. ZKV_OK or ZKV_ENOMEM. */
int zkv_sessions_open(zkv_sessions_t *self, uint64_t index, uint64_t client_id);

/*  Forget client_id's session; false when there was none. */
bool zkv_sessions_close(zkv_sessions_t *self, uint64_t client_id);

/*  Sessions forgotten to make room since this table was made (not saved in snapshots). */
uint64_t zkv_sessions_evicted(const zkv_sessions_t *self);

typedef enum {
    ZKV_SESSION_NEW,       /* not seen before: apply it, then zkv_sessions_store */
    ZKV_SESSION_EXPIRED,   /* no session: never opened, closed or evicted; never apply */
    ZKV_SESSION_DUPLICATE, /* *stored holds the first result */
    ZKV_SESSION_FORGOTTEN, /* below the client's first_unacked: never apply */
    ZKV_SESSION_FULL,      /* window full: refuse, the client must wait for acks */
} zkv_session_verdict_t;

/*  Look up (client, sequence) at log index in the client's open session,
    forgetting results below first_unacked. *stored is borrowed until the
    next call. */
zkv_session_verdict_t zkv_sessions_check(zkv_sessions_t *self, uint64_t index, uint64_t client_id,
                                         uint64_t sequence, uint64_t first_unacked,
                                         const zkv_stored_result_t **stored);

/*  Remember the result of a write the last check called NEW. Its data is
    copied. ZKV_OK or ZKV_ENOMEM. */
int zkv_sessions_store(zkv_sessions_t *self, uint64_t client_id, const zkv_stored_result_t *result);

/*  Serialise every session (sorted by client id), in the newest format: a
    malloc'd buffer, or NULL. */
uint8_t *zkv_sessions_encode(const zkv_sessions_t *self, size_t *size);

/*  Formats of the encoding: 1 has no count in a result (read from older
    snapshots), 2 is written. */
#define ZKV_SESSIONS_FORMAT 2
/*  Decode a buffer from zkv_sessions_encode (in format 1 or 2) into a new table;
    NULL when the bytes are malformed or memory runs out. */
zkv_sessions_t *zkv_sessions_decode(const uint8_t *data, size_t size, int format,
                                    size_t max_sessions, size_t window);

#endif
