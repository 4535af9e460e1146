/*
 * pmsis.c: team fork/join, barrier and critical sections on the cluster's
 * event unit, and the fabric-controller-side cluster calls of pmsis.h.
 *
 * Register sequences (offsets from the per-core event unit 0x1020_4000; the
 * team barrier is barrier 0 at +0x200):
 *
 *   pi_cl_team_fork inside a fork body (team size > 1): fatal error.
 *   pi_cl_team_fork(n > 1) on core 0:
 *     sw  +0x08 MASK_OR       = (1<<16)|(1<<17)|(1<<8)   core 0's wake-up lines
 *     sw  +0x200 TRIGGER_MASK = (1<<n)-1
 *     sw  +0x20C TARGET_MASK  = (1<<n)-1
 *     sw  +0x84 TEAM_CONFIG   = ((1<<n)-1) & ~1          workers 1..n-1 only
 *     (sw __pmsis_team_nb_cores = n, in the TCDM)
 *     sw  +0x80 DISPATCH_FIFO = entry
 *     sw  +0x80 DISPATCH_FIFO = arg
 *     entry(arg)
 *     lw  +0x21C TRIGGER_WAIT_CLEAR                      join
 *     (sw __pmsis_team_nb_cores = 1)
 *   workers (crt0.S): lw +0x80, lw +0x80, entry(arg), lw +0x21C, repeat.
 *   pi_cl_team_barrier():         lw +0x21C  (only in a team of more than one)
 *   pi_cl_team_critical_enter():  lw +0xC0   (HW mutex 0; idem)
 *   pi_cl_team_critical_exit():   sw +0xC0 = 0
 */
#include "pmsis_impl.h"

/* Stacks the layout provides (linker script: __num_cores = N). */
extern char __num_cores[];

PI_L1 volatile int __pmsis_team_nb_cores = 1;

void __pmsis_fatal(const char *what, unsigned a, unsigned b)
{
    printf("pmsis: fatal: ");
    printf(what, a, b);
    printf("\n");
    exit(PMSIS_FATAL_EXIT_CODE);
}

int pi_cl_team_nb_cores(void)
{
    return __pmsis_team_nb_cores;
}

void pi_cl_team_fork(int nb_cores, void (*entry)(void *), void *arg)
{
    unsigned n = nb_cores > 0 ? (unsigned)nb_cores : (unsigned)pi_cl_cluster_nb_cores();
    unsigned mask;

    /* PMSIS forks do not nest: inside a fork body every core of the team
     * would run the inner fork (team-size times the work, or a deadlock). */
    if (__pmsis_team_nb_cores > 1)
        __pmsis_fatal("pi_cl_team_fork called inside a fork body (core %u of a team of %u): "
                      "PMSIS forks do not nest; fork once and split the work inside the body",
                      (unsigned)pi_core_id(), (unsigned)__pmsis_team_nb_cores);
    if (n <= 1) {
        /* A team of one: the caller alone, no event-unit access. */
        entry(arg);
        return;
    }
    if (n > (unsigned)(uintptr_t)__num_cores)
        __pmsis_fatal("pi_cl_team_fork over %u cores, but the program was linked with stacks for %u "
                      "(build with layout=Layout(stack_in_tcdm=True, num_cores=...))",
                      n, (unsigned)(uintptr_t)__num_cores);
    mask = (1u << n) - 1u;

    PMSIS_EU(PULPSIM_EU_MASK_OR) = PMSIS_MASTER_EVT_MASK;
    PMSIS_TEAM_BAR(PULPSIM_EU_BAR_TRIGGER_MASK) = mask;
    PMSIS_TEAM_BAR(PULPSIM_EU_BAR_TARGET_MASK) = mask;
    PMSIS_EU(PULPSIM_EU_DISPATCH_TEAM) = mask & ~1u;
    __pmsis_team_nb_cores = (int)n;
    PMSIS_COMPILER_BARRIER(); /* the workers may read anything written so far */
    PMSIS_EU(PULPSIM_EU_DISPATCH_FIFO) = (uint32_t)(uintptr_t)entry;
    PMSIS_EU(PULPSIM_EU_DISPATCH_FIFO) = (uint32_t)(uintptr_t)arg;

    entry(arg);

    /* Join: the workers arrive at the same barrier when their entry returns. */
    PMSIS_COMPILER_BARRIER();
    (void)PMSIS_TEAM_BAR(PULPSIM_EU_BAR_TRIGGER_WAIT_CLEAR);
    PMSIS_COMPILER_BARRIER();
    __pmsis_team_nb_cores = 1;
}

void pi_cl_team_barrier(void)
{
    PMSIS_COMPILER_BARRIER();
    if (__pmsis_team_nb_cores > 1)
        (void)PMSIS_TEAM_BAR(PULPSIM_EU_BAR_TRIGGER_WAIT_CLEAR);
    PMSIS_COMPILER_BARRIER();
}

void pi_cl_team_critical_enter(void)
{
    PMSIS_COMPILER_BARRIER();
    if (__pmsis_team_nb_cores > 1)
        (void)PMSIS_EU(PULPSIM_EU_MUTEX(PMSIS_CRITICAL_MUTEX));
    PMSIS_COMPILER_BARRIER();
}

void pi_cl_team_critical_exit(void)
{
    PMSIS_COMPILER_BARRIER();
    if (__pmsis_team_nb_cores > 1)
        PMSIS_EU(PULPSIM_EU_MUTEX(PMSIS_CRITICAL_MUTEX)) = 0;
    PMSIS_COMPILER_BARRIER();
}

/* ---- fabric-controller side: there is no FC, core 0 is the master ------ */

void pi_cluster_conf_init(struct pi_cluster_conf *conf)
{
    conf->device_type = PI_DEVICE_CLUSTER_TYPE;
    conf->id = 0;
    conf->heap_start = NULL;
    conf->heap_size = 0;
    conf->event_kernel = NULL;
    conf->flags = PI_CLUSTER_FLAGS_FORK_BASED;
}

void pi_open_from_conf(struct pi_device *device, void *conf)
{
    device->api = NULL;
    device->config = conf;
    device->data = NULL;
}

int pi_cluster_open(struct pi_device *device)
{
    (void)device;
    return 0;
}

int pi_cluster_close(struct pi_device *device)
{
    (void)device;
    return 0;
}

int pi_cluster_send_task_to_cl(struct pi_device *device, struct pi_cluster_task *task)
{
    (void)device;
    task->entry(task->arg);
    return 0;
}

void pmsis_exit(int err)
{
    exit(err);
}
