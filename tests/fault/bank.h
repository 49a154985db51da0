/*  bank: transfers between accounts in transactions, beside the workload.
    Eight accounts start with 100 each (one transaction, once). Each bank
    client reads every balance with one linearizable scan (one revision, so
    the total must be 800), then moves an amount from one account to another
    in a transaction that holds only if neither account changed since (mod
    revisions) and that also writes a receipt key of its own. Checked as it
    goes (every scan's total) and at the end: the total is 800, every
    transfer answered "succeeded" left its receipt and every one answered
    "failed" left none (a retried transaction answered from its first
    application, never applied twice nor judged again); those of unknown
    outcome may have either. */
#ifndef ZKV_FAULT_BANK_H
#define ZKV_FAULT_BANK_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "fault.h"
#include "target.h"

typedef struct bank_t bank_t;

typedef struct {
    uint64_t scans;     /* balances read, each total checked */
    uint64_t succeeded; /* transfers answered succeeded */
    uint64_t conflicts; /* answered failed: an account changed since the scan */
    uint64_t unknown;   /* no answer in time */
    uint64_t receipts;  /* found at the end */
} bank_stats_t;

bank_t *bank_new(const fault_options_t *options, const target_t *target, char *err,
                 size_t err_size);
void bank_destroy(bank_t **self_p);

void bank_issue(bank_t *self);
void bank_stop(bank_t *self);
size_t bank_pollitems(bank_t *self, zmq_pollitem_t *items, size_t capacity);
int64_t bank_wait_ms(bank_t *self);
void bank_dispatch(bank_t *self);
size_t bank_inflight(const bank_t *self);

/*  After healing: the total and the receipts (each problem a fault_error).
    0 when they hold. */
int bank_check(bank_t *self, int64_t timeout_ms);

const bank_stats_t *bank_stats(const bank_t *self);

#endif
