/*
 * crt0.S: start-up code of pulpsim guest programs (RV32IMF, machine mode).
 *
 * All cluster cores start fetching at the ELF entry point (_start) in the same
 * cycle; they are told apart by mhartid (bits [3:0] = core id).  Each core:
 *   1. sets gp to __global_pointer$ (without relaxation: la gp must not be
 *      relaxed into a gp-relative form of itself),
 *   2. takes the stack ending at __stack_top - core_id * __stack_size,
 *   3. enables the FPU (mstatus.FS, otherwise every FP instruction traps),
 *   4. sets mtvec to 0: no trap handler, so the simulator reports exceptions,
 * then core 0 zeroes .bss, and the core calls main(0, 0) and exit(ret).
 *
 * The symbols __global_pointer$, __stack_top, __stack_size, __bss_start and
 * __bss_end come from link.ld.in.
 */

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

    /* Only core 0 zeroes .bss (8-byte aligned bounds, see link.ld.in). */
    bnez    t0, 2f
    la      a0, __bss_start
    la      a1, __bss_end
1:  bgeu    a0, a1, 2f
    sw      zero, 0(a0)
    sw      zero, 4(a0)
    addi    a0, a0, 8
    j       1b
2:
    /* In this version every core calls main (a single-core program only runs
     * on hart 0, so this is only reached by core 0 there).  The cluster
     * runtime of a later version will make cores != 0 sleep on the event
     * unit's dispatch FIFO here instead, waiting for work from core 0.
     * Note that cores != 0 may enter main before core 0 has zeroed .bss. */
    li      a0, 0
    li      a1, 0
    call    main
    /* exit(main's return value); exit does not return. */
    call    exit
3:  j       3b
    .size _start, . - _start
