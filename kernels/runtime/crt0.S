/*
 * crt0.S: start-up code of pulpsim guest programs (RV32IMF, machine mode).
 *
 * All cluster cores start fetching at the ELF entry point (_start) in the same
 * cycle; they are told apart by mhartid (bits [3:0] = core id).  Each core:
 *   1. sets gp to __global_pointer$ (without relaxation: la gp must not be
 *      relaxed into a gp-relative form of itself),
 *   2. takes the stack ending at __stack_top - core_id * __stack_size,
 *   3. enables the FPU (mstatus.FS, otherwise every FP instruction traps),
 *   4. sets mtvec to 0: no trap handler, so the simulator reports exceptions.
 * Then
 *   - core 0 zeroes .bss and calls main(0, 0), then exit(ret).  It does not
 *     touch the event unit here (a single-core platform has none); the
 *     cluster runtime (pmsis.c, dma.c) adds its wake-up lines to its event
 *     mask before its first wait.
 *   - cores != 0 are the workers of the cluster runtime (pmsis.h): they set
 *     their event-unit mask and loop forever: entry = lw DISPATCH_FIFO,
 *     arg = lw DISPATCH_FIFO (each read sleeps until core 0 pushes a value,
 *     see pi_cl_team_fork in pmsis.c), entry(arg), then the join: lw of
 *     barrier PMSIS_TEAM_BARRIER's TRIGGER_WAIT_CLEAR, the barrier core 0
 *     waits on at the end of the fork.  They touch no program data before
 *     the first dispatch, which comes after core 0 has zeroed .bss.
 *     On a platform with one core this code is never reached.
 *
 * With -DPULPSIM_PRIVATE_PROGRAM every core behaves as core 0 (one program
 * per core, each linked to its own memory).
 *
 * The symbols __global_pointer$, __stack_top, __stack_size, __bss_start and
 * __bss_end come from link.ld.in.
 */
#include "pulp_cluster.h"

    .section .text.init, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop

    /* t0 = core id (mhartid[3:0]) */
    csrr    t0, mhartid
    andi    t0, t0, 0xF
#ifdef PULPSIM_PRIVATE_PROGRAM
    /* This ELF is the only program of the core that runs it (one program per
     * core, each linked to its own memory): every core behaves as core 0,
     * with the first stack and its own .bss zeroing. */
    li      t0, 0
    /* tells the simulator to check sp against the first stack on every core */
    .globl  pulpsim_private_program
    .set    pulpsim_private_program, 1
#endif

    /* sp = __stack_top - core_id * __stack_size (both from the linker script;
     * __stack_size is an absolute symbol: load its value with lui/addi, not
     * pc-relative). */
    la      sp, __stack_top
    lui     t1, %hi(__stack_size)
    addi    t1, t1, %lo(__stack_size)
    mul     t2, t0, t1
    sub     sp, sp, t2

    /* mstatus.FS = Dirty (bits 14:13): the FPU is usable. */
    li      t1, 0x6000
    csrs    mstatus, t1
    csrw    fcsr, zero

    /* No trap handler: an exception ends the simulation with an error. */
    csrw    mtvec, zero

    /* Core 0 zeroes .bss (8-byte aligned bounds, see link.ld.in); the
     * other cores become workers. */
    bnez    t0, .Lworker
    la      a0, __bss_start
    la      a1, __bss_end
1:  bgeu    a0, a1, 2f
    sw      zero, 0(a0)
    sw      zero, 4(a0)
    addi    a0, a0, 8
    j       1b
2:
    li      a0, 0
    li      a1, 0
    call    main
    /* exit(main's return value); exit does not return. */
    call    exit
3:  j       3b

    /* Worker cores (id != 0): s0 = event unit (per-core demux copy). */
.Lworker:
    li      s0, PULPSIM_EU_BASE
    li      t1, PMSIS_WORKER_EVT_MASK
    sw      t1, PULPSIM_EU_MASK(s0)
.Lwait_dispatch:
    lw      s1, PULPSIM_EU_DISPATCH_FIFO(s0)    /* entry: sleeps until pushed */
    lw      a0, PULPSIM_EU_DISPATCH_FIFO(s0)    /* argument                   */
    jalr    s1                                  /* entry(arg); s0 survives    */
    /* join: arrive at the team barrier and sleep until it fires */
    lw      t1, (PULPSIM_EU_BARRIER(PMSIS_TEAM_BARRIER) + PULPSIM_EU_BAR_TRIGGER_WAIT_CLEAR)(s0)
    j       .Lwait_dispatch
    .size _start, . - _start
