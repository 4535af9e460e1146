#ifndef STATS_H
#define STATS_H

#ifdef STATS
#define START_STATS()                                                                        \
    pi_perf_conf((1 << PI_PERF_CYCLES) | (1 << PI_PERF_INSTR) | (1 << PI_PERF_TCDM_CONT));  \
    pi_perf_stop();                                                                          \
    pi_perf_reset();                                                                         \
    pi_perf_start();

#define STOP_STATS()                                                                         \
    pi_perf_stop();                                                                          \
    printf("[%d] cycles = %lu\n", pi_core_id(), (unsigned long)pi_perf_read(PI_PERF_CYCLES)); \
    printf("[%d] instr = %lu\n", pi_core_id(), (unsigned long)pi_perf_read(PI_PERF_INSTR));
#else
#define START_STATS()
#define STOP_STATS()
#endif

#endif
