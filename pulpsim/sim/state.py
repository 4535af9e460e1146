"""Layout of the engine's state arrays.

The engine works on plain numpy arrays with a leading *core* dimension; the
constants here name their columns so that the Python side (machine, stats,
traces) and the Numba engine agree.  Everything is ``int64``.
"""

from __future__ import annotations

# ---- per-core CSR storage: csr[core, C_*] ------------------------------------
C_MSTATUS = 0
C_MTVEC = 1
C_MEPC = 2
C_MCAUSE = 3
C_MTVAL = 4
C_MSCRATCH = 5
C_MIE = 6
C_FFLAGS = 7
C_FRM = 8
C_MCOUNTINHIBIT = 9
C_PCER = 10
C_PCMR = 11
C_MHPMEVENT = 16          #: + k for mhpmevent k (3..31)
NUM_CSR_SLOTS = 48

# ---- per-core timing state: tim[core, T_*] ----------------------------------
T_LAST_LOAD_DST = 0   #: unified id written by the previous instruction if it was a load (else 0)
T_LAST_ALU_DST = 1    #: unified int id written by the previous non-load instruction (else 0)
T_FDIV_READY = 2      #: cycle at which the FP divider result is written (available)
T_FDIV_DST = 3        #: unified id of the FP divider's destination (0 = none)
T_HALTED = 4          #: 1 once the core stopped (tohost)
T_EXIT_CODE = 5       #: the core's exit code (tohost)
T_TOHOST = 6          #: address of the tohost symbol of the core's program, -1 if none
T_PREV_PC = 7         #: pc of the previous instruction (to say where a bad jump came from)
T_RESOLVED = 8        #: 1 when cyc[core] already includes the next instruction's hazard stalls
T_FPU = 9             #: the shared FPU the core was routed to when it last lost an FPU arbitration (it keeps it
                      #: if it then runs alone); 0 once its FP instruction executed
T_LAST_STALL = 10     #: S_* index of the last stall cause (for timelines)
T_STACK_LO = 11       #: lowest valid sp of the core's stack (-1: unknown, no check)
T_ID_EARLY = 12       #: cycles the next instruction already sat in decode (ID) before its clock cyc[core]
T_LD1_DST = 13        #: integer register of the most recent load (0: none or x0)
T_LD1_WB = 14         #: the cycle in which that load is in write-back
T_LD2_DST = 15        #: the same for the load before it
T_LD2_WB = 16
T_PCSET = 17          #: resolved next instruction, if a jump: the cycle it redirects the fetch
T_EX_WAIT = 18        #: resolved next instruction: cycles it waits in EX for the FP divider (see engine)
T_FDIV_WB = 19        #: 1 while the FP divider's result is not written yet (T_FDIV_READY: the cycle it will be)
T_MEM_RESP = 20       #: cycle of the (last) data response of the most recent load or store
T_REQ_BANK = 21       #: resolved next instruction: the TCDM bank it requests (-1: none)
T_REQ_FPU = 22        #: resolved next instruction: 1 if it requests a shared FPU
T_REQ_ROW = 23        #: resolved next instruction: its row in the code table ...
T_REQ_WORD = 24       #: ... and its word then (arbitration derives the request again if the row changed since)
T_STEP = 25           #: resolved next instruction: 1 if the scheduler may execute it itself (see pulpsim.sim.step)
NUM_TIM_SLOTS = 28

# ---- per-core statistics: stat[core, S_*] -------------------------------------
# Extra cycles beyond the 1 cycle every instruction costs, by cause, so that
#   cycles == instructions + sum(stat[:, S_FIRST_CYCLE_CAUSE:S_END_CYCLE_CAUSE])
S_INSTR = 0
S_BTAKEN = 1
S_LD_EXT = 2          #: loads to memories with latency > 1 (PULP LD_EXT)
S_ST_EXT = 3
S_TRAPS = 4
S_FIRST_CYCLE_CAUSE = 8
S_LOAD_USE = 8        #: load-use stalls (PULP LD_STALL)
S_JR_STALL = 9        #: jalr waiting for its rs1 (PULP JR_STALL)
S_BRANCH = 10         #: taken-branch penalty
S_JUMP = 11           #: jal / jalr penalty
S_MULH = 12           #: mulh* multi-cycle
S_DIV = 13            #: div/rem multi-cycle
S_CSR = 14            #: CSR accesses that flush the pipeline
S_FENCE = 15          #: fence / fence.i
S_MISALIGNED = 16     #: second bus transaction of misaligned accesses
S_FDIV_WAIT = 17      #: waiting for the FP divider (dependency or FPU busy)
S_WB_CLASH = 18       #: FP divider write-back clash
S_TRAP = 19           #: trap entry and mret
S_LD_EXT_CYC = 20     #: extra cycles of loads to slow memories
S_ST_EXT_CYC = 21     #: extra cycles of stores to slow memories
S_TCDM_CONT = 22      #: cycles lost to TCDM bank conflicts (PULP TCDM_CONT)
S_FPU_CONT = 23       #: cycles lost waiting for a shared FPU (PULP APU_CONT)
S_PERIPH = 27         #: extra cycles of accesses through the peripheral interconnect
S_END_CYCLE_CAUSE = 28
S_TCDM_ACCESSES = 24  #: granted TCDM accesses
S_FPU_OPS = 25        #: operations on a shared FPU
S_SLEEP = 26          #: cycles asleep (clock gated by the event unit), not stalls
NUM_STAT_SLOTS = 32

#: Human names of the cycle causes, for reports.
CYCLE_CAUSES = {
    S_LOAD_USE: "load_use",
    S_JR_STALL: "jalr_dep",
    S_BRANCH: "branch_taken",
    S_JUMP: "jump",
    S_MULH: "mulh",
    S_DIV: "div",
    S_CSR: "csr_flush",
    S_FENCE: "fence",
    S_MISALIGNED: "misaligned",
    S_FDIV_WAIT: "fdiv_wait",
    S_WB_CLASH: "fdiv_wb_clash",
    S_TRAP: "trap",
    S_LD_EXT_CYC: "load_latency",
    S_ST_EXT_CYC: "store_latency",
    S_TCDM_CONT: "tcdm_contention",
    S_FPU_CONT: "fpu_contention",
    S_PERIPH: "periph_latency",
}

# ---- guest-visible counters (virtual counters vc_acc / vc_snap[core, k]) -----
# k = 0 mcycle, 1 (unused), 2 minstret, 3..31 mhpmcounter k, 32 + i PCCR[i]
VC_MCYCLE = 0
VC_MINSTRET = 2
VC_PCCR = 32
NUM_VC = 64
#: PULP counter index (PCCR[30], CSR 0x79E) of pulpsim's own event "all cycles, asleep included": the PULP SDK
#: counts PI_PERF_CYCLES with the cluster timer instead, since the RI5CY's CYCLES event (0) stops while the
#: core's clock is gated; the runtime's pi_perf maps PI_PERF_CYCLES to it.
EV_TOTAL_CYCLES = 30

# ---- engine parameters: params[P_*] -----------------------------------------
P_STDOUT = 2
P_STDOUT_SIZE = 3
P_CORESTATUS = 4
P_MAX_CYCLES = 6
P_TRAP_CYCLES = 7
P_MRET_CYCLES = 8
P_CLUSTER_ID = 9
P_TRACING = 10
P_NBANKS = 11      #: TCDM banks (power of two)
P_ARBITRATION = 12 #: ARB_* below
P_NFPU = 13        #: shared FPUs; 0 = private FPU per core
P_SHARED_DIV = 14  #: 1 = one shared FP divider with fixed latency P_DIV_LATENCY
P_DIV_LATENCY = 15
P_PERIPH_BASE = 16     #: cluster peripheral window (event unit, DMA, control unit, timer)
P_PERIPH_LATENCY = 17  #: cycles of an access through the peripheral interconnect
P_BARRIER_LATENCY = 18 #: cycles from the last barrier arrival to the release of every waiting core
P_WAKE_LATENCY = 19    #: cycles from an event to the woken core's next instruction
P_DMA_LATENCY = 20     #: DMA start latency, cycles
P_HORIZON = 22         #: last cycle of the run once a CORESTATUS exit happened (NO_HORIZON before)
P_RUNAHEAD = 23        #: cycles a core may run ahead of the others through instructions on its own state
P_LOADS_AHEAD = 24     #: 1: loads of memory may run ahead too, checked by the writes after them (see memory.py)
NUM_PARAMS = 25

NO_HORIZON = 1 << 62  #: P_HORIZON while no exit happened

ARB_NONE = 0   #: no bank conflicts
ARB_TREE = 1   #: counter-steered binary tree (RTL)
ARB_FIXED = 2  #: lowest core id wins

# ---- decoded code: pages of guest memory, decoded on first fetch ------------
# The engine's code table holds one row per instruction word of every page of guest memory
# that a core has fetched from (and of the program's executable segments); pagemap[flat
# offset >> CODE_PAGE_SHIFT] is the page's first row (-1: not decoded yet). A store or DMA
# transfer into a decoded page marks the words it changes stale (isa.OP_STALE), so that
# they are decoded again when fetched. Rows 0 and 1 are the fetch-fault and "decode" rows.
CODE_PAGE_SHIFT = 12
CODE_PAGE_BYTES = 1 << CODE_PAGE_SHIFT
CODE_PAGE_WORDS = CODE_PAGE_BYTES // 4
CODE_ROW_NOCODE = 0   #: the row of every unmapped or misaligned pc (an instruction access fault)
CODE_ROW_STALE = 1    #: the row of every pc in a page not decoded yet
CODE_FIRST_PAGE_ROW = 2

# ---- regions[r, R_*] --------------------------------------------------------
R_BASE = 0
R_SIZE = 1
R_OFFSET = 2   #: offset of the region's first byte in the flat memory array
R_LATENCY = 3
R_KIND = 4     #: RK_* below
NUM_REGION_FIELDS = 5

RK_PLAIN = 0   #: ordinary memory (L2)
RK_TCDM = 1    #: the banked TCDM (or its cluster alias)
RK_TAS = 2     #: TCDM test-and-set alias: a load returns the word and writes -1

# ---- TCDM banks: banks[b, B_*] --------------------------------------------------
B_COUNTER = 0    #: arbitration tree counter c
B_FLAG = 1       #: cores-vs-DMA toggle
B_ACCESSES = 2   #: granted accesses
B_CONFLICTS = 3  #: cycles in which a request to this bank lost arbitration
NUM_BANK_FIELDS = 4

# ---- cluster-shared units: shared[U_*] -------------------------------------------
U_DIV_FREE = 0       #: cycle at which the shared FP divider is free
U_FPU_REQUESTERS = 1 #: the cores (bit k) that requested a shared FPU in the last arbitration round
U_FPU_COUNTER = 16   #: + f: arbitration counter of shared FPU f
U_FPU_OPS = 32       #: + f: operations executed by shared FPU f
U_FPU_CONFLICTS = 48 #: + f: lost arbitrations on shared FPU f
NUM_SHARED = 64

# ---- engine -> Python: io[IO_*] ---------------------------------------------
IO_STATUS = 0
IO_CORE = 1
IO_PC = 2
IO_CAUSE = 3
IO_TVAL = 4
IO_OUT_LEN = 5
IO_TRACE_LEN = 6
IO_EXIT_CODE = 7
IO_EXECUTED = 8
IO_CODE_ADDR = 9   #: pc whose decoded code is missing or stale (ST_DECODE)
IO_REGION_N = 10   #: entries in region_log (PCMR writes: pi_perf_start / pi_perf_stop)
IO_EXIT_CYCLE = 11 #: issue cycle of the CORESTATUS exit store, -1 before
NUM_IO = 16

# Engine return statuses.
ST_BUDGET = 0        #: executed its instruction budget; call again
ST_EXIT = 1          #: CORESTATUS exit
ST_ALL_HALTED = 2    #: every core stopped through tohost
ST_FAULT = 3         #: an exception with no trap handler (see IO_CAUSE)
ST_OUTPUT_FULL = 4   #: stdout buffer full; drain and call again
ST_TRACE_FULL = 5    #: trace buffer full; drain and call again
ST_DECODE = 6        #: the pc (IO_CODE_ADDR) reached code not decoded yet or changed since; decode, call again
ST_CYCLE_LIMIT = 7   #: a core passed max_cycles
ST_DEADLOCK = 8      #: every core is asleep or stopped and no event can come
ST_DMA_FAULT = 9     #: a DMA command names memory outside every region (IO_TVAL)
ST_STACK_OVERFLOW = 10  #: sp went below the core's stack (into another core's stack or data)
ST_SCHEDULE = 11     #: (run_alone) the core no longer runs alone: continue with the cluster's scheduler (run)
ST_LOAD_AHEAD = 12   #: a write reached a word a core had loaded ahead of it, in a later cycle (IO_TVAL: the
#:                      write's order key): the run goes back to a checkpoint from before that load

# Exception causes (mcause values), plus pulpsim's own.
CAUSE_FETCH_MISALIGNED = 0
CAUSE_FETCH_FAULT = 1
CAUSE_ILLEGAL = 2
CAUSE_BREAKPOINT = 3
CAUSE_LOAD_MISALIGNED = 4
CAUSE_LOAD_FAULT = 5
CAUSE_STORE_MISALIGNED = 6
CAUSE_STORE_FAULT = 7
CAUSE_ECALL_M = 11

#: Exception names (RISC-V privileged spec, table "Machine cause register (mcause) values").
CAUSE_NAMES = {
    CAUSE_FETCH_MISALIGNED: "instruction address misaligned",
    CAUSE_FETCH_FAULT: "instruction access fault",
    CAUSE_ILLEGAL: "illegal instruction",
    CAUSE_BREAKPOINT: "breakpoint",
    CAUSE_LOAD_MISALIGNED: "load address misaligned",
    CAUSE_LOAD_FAULT: "load access fault",
    CAUSE_STORE_MISALIGNED: "store address misaligned",
    CAUSE_STORE_FAULT: "store access fault",
    CAUSE_ECALL_M: "environment call from M-mode",
}

# Trace record columns: trace[n, TR_*]
TR_CYCLE = 0
TR_CORE = 1
TR_PC = 2
TR_WORD = 3
TR_DST = 4     #: unified id written (0 = none)
TR_VALUE = 5
TR_COST = 6    #: cycles the instruction took from its issue
TR_STALL = 7   #: S_* cause of the last stall before this instruction issued, | TR_PARKED
TR_CAUSE = 8   #: 1 + mcause of the exception the instruction raised (0 = it retired)
TR_TVAL = 9    #: mtval of that exception
NUM_TRACE_FIELDS = 10
TR_PARKED = 1 << 8  #: flag in TR_STALL: the instruction parked the core on the event unit

# ---- opflags[op]: per-operation class bits (built by pulpsim.sim.machine from the ISA table) ----
OPF_FP = 1        #: needs mstatus.FS != Off
OPF_FPU = 2       #: an FP-unit instruction: waits while the FP divider is busy
OPF_LOAD = 4
OPF_STORE = 8
OPF_BRANCH = 16
OPF_JUMP = 32
OPF_SHARED_FPU = 64  #: executes on an FPU (shared ones are arbitrated); not fmv, flw, fsw, fdiv, fsqrt
OPF_ORDERED = 128    #: touches shared state (memory, devices, shared FPUs/divider): must run in cycle order
OPF_ALU_WB = 256     #: writes an integer register through the ALU write port (not loads, not FP-unit ops)
OPF_UNIT_SHIFT = 16  #: opflags[op] >> OPF_UNIT_SHIFT is the op's execution unit (isa.UNIT_*)

LOAD_X0 = 64  #: T_LAST_LOAD_DST of a load into x0 (no reader can depend on it, but ALU writes of x0 wait)
