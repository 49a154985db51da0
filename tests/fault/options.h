/*  options: zkv-fault's command line into fault_options_t. */
#ifndef ZKV_FAULT_OPTIONS_H
#define ZKV_FAULT_OPTIONS_H

#include "fault.h"

/*  0; 1 when --help was printed; -1 after a usage message on stderr. */
int options_parse(fault_options_t *options, int argc, char **argv);

#endif
