"""Cluster peripherals seen by the cores: event unit, DMA (MCHAN v7), control unit, timer.

These are Numba functions called by the engine when a load or store falls in
the cluster peripheral window (cluster.md memory map).  Their state lives in
plain int64 arrays (layouts below).  The event unit makes cores *sleep*: a
load from a wait register that cannot complete yet parks the core (its clock
is taken out of the schedule) until an event wakes it; the loaded value is
written to the destination register at wake-up.  The DMA is a separate agent
of the cycle-ordered scheduler (see :func:`dma_cycle`), whose TCDM accesses
compete with the cores for banks.

Register map (offsets from the cluster peripheral base 0x1020_0000; the same
window is reachable at 0x0020_0000 through the cluster alias):
  0x0000 control unit  (+0x00 EOC, +0xF0 number of cores, read-only, pulpsim)
  0x0400 timer         (+0x08 CNT_LO, +0x0C CNT_HI: cycles since reset)
  0x1800 DMA, shared port (one command queue for all cores)
  0x4000 event unit, per-core demux copy (each core sees its own registers)
  0x4400 DMA, per-core demux port
Accesses through the demux (0x4000-0x47FF) take 1 cycle, the others
``periph_latency`` cycles.
"""

from __future__ import annotations

from .jit import jit

from .memory import find_region
from .state import *  # noqa: F401,F403  (array layouts and constants)

MASK32 = 0xFFFFFFFF
NEVER = 1 << 62

# Offsets inside the peripheral window.
CTRL_BASE = 0x0000
TIMER_BASE = 0x0400
DMA_SHARED_BASE = 0x1800
DEMUX_BASE = 0x4000
EU_DEMUX = 0x4000
DMA_DEMUX = 0x4400
WINDOW = 0x10000

# Event lines.
EVT_DMA = 8
EVT_BARRIER = 16
EVT_MUTEX = 17
EVT_DISPATCH = 18

# Wait kinds (eu_core[c, E_WAIT]).
W_NONE = 0
W_EVENT = 1         #: EVENT_WAIT
W_EVENT_CLEAR = 2   #: EVENT_WAIT_CLEAR
W_BARRIER = 3       #: barrier TRIGGER_WAIT
W_BARRIER_CLEAR = 4
W_DISPATCH = 5      #: dispatch FIFO pop
W_MUTEX = 6         #: mutex lock
W_WFI = 7           #: wfi: sleep until an event of the core's mask is pending (nothing is returned)

WAIT_NAMES = ("running", "event wait", "event wait", "barrier wait", "barrier wait", "dispatch wait", "mutex wait",
              "wfi")

# eu_core[c, E_*]
E_MASK = 0
E_BUFFER = 1
E_WAIT = 2
E_WAIT_ARG = 3      #: barrier or mutex index
E_WAIT_RD = 4       #: unified destination register of the parked load
E_SLEEP_START = 5   #: cycle at which the core went to sleep
E_WAIT_PC = 6       #: pc of the parked load (for deadlock reports)
NUM_EU_CORE = 8

# eu_glob[*]
NUM_BARRIERS = 8
G_BAR = 0            #: + 4*b: trigger mask, status, target mask
G_MUTEX = 32         #: + m: owner core, -1 free
NUM_MUTEX = 8
G_TEAM = 40          #: dispatch team mask
G_FIFO_HEAD = 41
G_FIFO_COUNT = 42
G_FIFO = 64          #: + 2*i: value, cores that still have to read it
FIFO_DEPTH = 16
NUM_EU_GLOB = G_FIFO + 2 * FIFO_DEPTH

# DMA transfers: dma_tr[tid, D_*]
D_STATE = 0         #: 0 free, 1 allocated (being programmed), 2 queued/running
D_CMD = 1
D_TCDM = 2
D_EXT = 3
D_COUNT = 4         #: 2-D row length in bytes
D_STRIDE = 5        #: 2-D L2 stride in bytes
D_DONE = 6          #: bytes moved
D_CORE = 7          #: issuing core
D_SEQ = 8           #: submission order
D_START = 9         #: first cycle at which data may move
D_FIRST = 10        #: cycle of the first data beat (-1 before)
NUM_D = 12
NUM_TIDS = 16

# dma_port[p, *]: programming state of each command port (one per core + the shared one)
DP_TID = 0
DP_STEP = 1          #: words written so far in the current command
NUM_DP = 4

# dma_glob[*]
DG_NEXT_SEQ = 0
DG_ACTIVE = 1        #: tid being transferred, -1 none
DG_TIME = 2          #: the DMA agent's clock: next cycle it wants to move data
DG_BYTES = 3         #: statistics: bytes moved
DG_BUSY = 4          #: statistics: cycles with data moved
DG_CONFLICTS = 5     #: statistics: chunks delayed by bank conflicts
DG_TRANSFERS = 6
DG_LOG_N = 7         #: completed transfers recorded in dma_log
NUM_DG = 8

# dma_log[i, *]: one row per completed transfer (for timelines)
DL_TID = 0
DL_CORE = 1
DL_FIRST = 2
DL_END = 3
DL_BYTES = 4
DL_TO_TCDM = 5
NUM_DL = 6

CMD_LEN_MASK = (1 << 17) - 1
CMD_TYPE_EXT2LOC = 1 << 17
CMD_2D_EXT = 1 << 19
CMD_ELE = 1 << 20
CMD_BLE = 1 << 22


# ---------------------------------------------------------------------------- waking cores

@jit
def wake(j, te, value, eu_core, cyc, tim, xreg, freg, stat):
    """Finish core j's parked load with `value`; its next instruction issues at te."""
    rd = eu_core[j, E_WAIT_RD]
    if 0 < rd < 32:
        xreg[j, rd] = ((value + 0x80000000) & MASK32) - 0x80000000
    elif rd >= 32:
        freg[j, rd - 32] = value & MASK32
    stat[j, S_SLEEP] += te - eu_core[j, E_SLEEP_START]
    eu_core[j, E_WAIT] = W_NONE
    cyc[j] = te
    tim[j, T_RESOLVED] = 0
    tim[j, T_LAST_LOAD_DST] = 0
    tim[j, T_LAST_ALU_DST] = 0


@jit
def waits_for_events(w):
    """Whether wait kind w ends as soon as an event of the core's mask is pending (EVENT_WAIT(_CLEAR), wfi)."""
    return w == W_EVENT or w == W_EVENT_CLEAR or w == W_WFI


@jit
def raise_events(targets, bits, now, eu_core, cyc, tim, xreg, freg, stat, wake_latency):
    """Set event bits in the buffers of the target cores and wake the ones waiting for them.

    Returns the earliest wake-up cycle (NEVER if nobody woke).
    """
    earliest = NEVER
    for j in range(eu_core.shape[0]):
        if (targets >> j) & 1 == 0:
            continue
        eu_core[j, E_BUFFER] |= bits
        w = eu_core[j, E_WAIT]
        if waits_for_events(w):
            v = eu_core[j, E_BUFFER] & eu_core[j, E_MASK]
            if v != 0:
                if w == W_EVENT_CLEAR:
                    eu_core[j, E_BUFFER] &= ~v
                te = now + wake_latency
                wake(j, te, v, eu_core, cyc, tim, xreg, freg, stat)
                earliest = min(earliest, te)
    return earliest


# ---------------------------------------------------------------------------- event unit

@jit
def _fifo_pop(eu_glob, core):
    """Value of the oldest dispatch entry addressed to core, or -1 if none (value in second slot)."""
    head = eu_glob[G_FIFO_HEAD]
    count = eu_glob[G_FIFO_COUNT]
    for i in range(count):
        slot = G_FIFO + 2 * ((head + i) % FIFO_DEPTH)
        if (eu_glob[slot + 1] >> core) & 1:
            eu_glob[slot + 1] &= ~(1 << core)
            value = eu_glob[slot]
            # drop fully consumed entries from the head
            while eu_glob[G_FIFO_COUNT] > 0 and eu_glob[G_FIFO + 2 * eu_glob[G_FIFO_HEAD] + 1] == 0:
                eu_glob[G_FIFO_HEAD] = (eu_glob[G_FIFO_HEAD] + 1) % FIFO_DEPTH
                eu_glob[G_FIFO_COUNT] -= 1
            return True, value
    return False, 0


@jit
def eu_load(off, c, now, rd, pc_, eu_core, eu_glob, cyc, tim, xreg, freg, stat, params):
    """Load from the event unit. Returns (status, value, cost, earliest wake):
    status 0 = done, 1 = the core sleeps."""
    barrier_latency = params[P_BARRIER_LATENCY]
    wake_latency = params[P_WAKE_LATENCY]
    ncores = eu_core.shape[0]
    if off == 0x00:
        return 0, eu_core[c, E_MASK], 1, NEVER
    if off == 0x18:
        return 0, 1, 1, NEVER
    if off == 0x1C:
        return 0, eu_core[c, E_BUFFER], 1, NEVER
    if off == 0x20:
        return 0, eu_core[c, E_BUFFER] & eu_core[c, E_MASK], 1, NEVER
    if off == 0x38 or off == 0x3C:
        v = eu_core[c, E_BUFFER] & eu_core[c, E_MASK]
        if v != 0:
            if off == 0x3C:
                eu_core[c, E_BUFFER] &= ~v
            return 0, v, 1, NEVER
        _park(c, W_EVENT_CLEAR if off == 0x3C else W_EVENT, 0, rd, pc_, now, eu_core)
        return 1, 0, 1, NEVER
    if off == 0x80:
        ok, v = _fifo_pop(eu_glob, c)
        if ok:
            return 0, v, 1, NEVER
        _park(c, W_DISPATCH, 0, rd, pc_, now, eu_core)
        return 1, 0, 1, NEVER
    if off == 0x84:
        return 0, eu_glob[G_TEAM], 1, NEVER
    if 0xC0 <= off < 0xC0 + 4 * NUM_MUTEX:
        m = (off - 0xC0) >> 2
        if eu_glob[G_MUTEX + m] < 0:
            eu_glob[G_MUTEX + m] = c
            return 0, 0, 1, NEVER
        _park(c, W_MUTEX, m, rd, pc_, now, eu_core)
        return 1, 0, 1, NEVER
    if 0x200 <= off < 0x200 + 0x20 * NUM_BARRIERS:
        b = (off - 0x200) >> 5
        reg = off & 0x1F
        base = G_BAR + 4 * b
        if reg == 0x00:
            return 0, eu_glob[base], 1, NEVER
        if reg == 0x04 or reg == 0x08:
            return 0, eu_glob[base + 1], 1, NEVER
        if reg == 0x0C:
            return 0, eu_glob[base + 2], 1, NEVER
        if reg == 0x14 or reg == 0x18 or reg == 0x1C:
            eu_glob[base + 1] |= 1 << c
            trig = eu_glob[base]
            fired = trig != 0 and (eu_glob[base + 1] & trig) == trig
            waits = reg != 0x14
            clear = reg == 0x1C
            earliest = NEVER
            if fired:
                earliest = _fire_barrier(base, c, now + barrier_latency, eu_core, eu_glob, cyc, tim, xreg, freg,
                                         stat, wake_latency)
                if waits:
                    if clear:
                        eu_core[c, E_BUFFER] &= ~(1 << EVT_BARRIER)
                    # the last arrival waits for the release like the others: its clock is gated
                    stat[c, S_SLEEP] += barrier_latency - 1
                    stat[c, S_PERIPH] -= barrier_latency - 1  # (the engine books cost - 1 as periph latency)
                    return 0, 0, barrier_latency, earliest
                return 0, 0, 1, earliest
            if not waits:
                return 0, 0, 1, NEVER
            if (eu_core[c, E_BUFFER] >> EVT_BARRIER) & 1:
                if clear:
                    eu_core[c, E_BUFFER] &= ~(1 << EVT_BARRIER)
                return 0, 0, 1, NEVER
            _park(c, W_BARRIER_CLEAR if clear else W_BARRIER, b, rd, pc_, now, eu_core)
            return 1, 0, 1, NEVER
        return 0, 0, 1, NEVER
    return 0, 0, 1, NEVER  # other registers read as 0


@jit
def _fire_barrier(base, c, te, eu_core, eu_glob, cyc, tim, xreg, freg, stat, wake_latency):
    """The barrier at eu_glob[base] fired (core c completed it): clear its status, send its event to every
    core of its target mask, and wake, at te, the cores waiting on it or on an event of their mask (core c,
    the last arrival, is the caller's business). Returns the earliest wake-up cycle (NEVER if nobody woke)."""
    eu_glob[base + 1] = 0
    earliest = NEVER
    target = eu_glob[base + 2]
    for j in range(eu_core.shape[0]):
        if (target >> j) & 1 == 0:
            continue
        eu_core[j, E_BUFFER] |= 1 << EVT_BARRIER
        w = eu_core[j, E_WAIT]
        if j == c:
            continue
        if w == W_BARRIER or w == W_BARRIER_CLEAR:
            if w == W_BARRIER_CLEAR:
                eu_core[j, E_BUFFER] &= ~(1 << EVT_BARRIER)
            wake(j, te, 0, eu_core, cyc, tim, xreg, freg, stat)
            earliest = min(earliest, te)
        elif waits_for_events(w):
            earliest = min(earliest, raise_events(1 << j, 0, te - wake_latency, eu_core, cyc, tim, xreg, freg,
                                                  stat, wake_latency))
    return earliest


@jit
def wfi_sleep(c, now, pc_, eu_core):
    """wfi of core c issued at `now`: True if the core goes to sleep (no event of its mask is pending; the
    event unit's raise_events wakes it), False if it continues at once (as a nop)."""
    if (eu_core[c, E_BUFFER] & eu_core[c, E_MASK]) != 0:
        return False
    _park(c, W_WFI, 0, 0, pc_, now, eu_core)
    return True


@jit
def _park(c, kind, arg, rd, pc_, now, eu_core):
    eu_core[c, E_WAIT] = kind
    eu_core[c, E_WAIT_ARG] = arg
    eu_core[c, E_WAIT_RD] = rd
    eu_core[c, E_WAIT_PC] = pc_
    eu_core[c, E_SLEEP_START] = now + 1


@jit
def eu_store(off, c, now, value, eu_core, eu_glob, cyc, tim, xreg, freg, stat, params):
    """Store to the event unit. Returns the earliest cycle at which a core wakes (NEVER if none)."""
    wake_latency = params[P_WAKE_LATENCY]
    ncores = eu_core.shape[0]
    value &= MASK32
    if off == 0x00:
        eu_core[c, E_MASK] = value
    elif off == 0x04:
        eu_core[c, E_MASK] &= ~value
    elif off == 0x08:
        eu_core[c, E_MASK] |= value
    elif off == 0x28:
        eu_core[c, E_BUFFER] &= ~value
    elif off == 0x80:
        count = eu_glob[G_FIFO_COUNT]
        team = eu_glob[G_TEAM] & ((1 << ncores) - 1)
        if count < FIFO_DEPTH and team != 0:
            slot = G_FIFO + 2 * ((eu_glob[G_FIFO_HEAD] + count) % FIFO_DEPTH)
            eu_glob[slot] = value
            eu_glob[slot + 1] = team
            eu_glob[G_FIFO_COUNT] = count + 1
            earliest = NEVER
            te = now + wake_latency
            for j in range(ncores):
                if (team >> j) & 1 and eu_core[j, E_WAIT] == W_DISPATCH:
                    ok, v = _fifo_pop(eu_glob, j)
                    if ok:
                        wake(j, te, v, eu_core, cyc, tim, xreg, freg, stat)
                        earliest = te
            return earliest
    elif off == 0x84:
        eu_glob[G_TEAM] = value
    elif 0xC0 <= off < 0xC0 + 4 * NUM_MUTEX:
        m = (off - 0xC0) >> 2
        eu_glob[G_MUTEX + m] = -1
        for j in range(ncores):  # the lowest-id waiter gets the mutex
            if eu_core[j, E_WAIT] == W_MUTEX and eu_core[j, E_WAIT_ARG] == m:
                eu_glob[G_MUTEX + m] = j
                te = now + wake_latency
                wake(j, te, value, eu_core, cyc, tim, xreg, freg, stat)
                return te
    elif 0x100 <= off < 0x120:
        i = (off - 0x100) >> 2
        return raise_events(value, 1 << i, now, eu_core, cyc, tim, xreg, freg, stat, wake_latency)
    elif 0x200 <= off < 0x200 + 0x20 * NUM_BARRIERS:
        b = (off - 0x200) >> 5
        reg = off & 0x1F
        base = G_BAR + 4 * b
        if reg == 0x00:
            eu_glob[base] = value
        elif reg == 0x0C:
            eu_glob[base + 2] = value
        elif reg == 0x10:
            eu_glob[base + 1] |= value
            trig = eu_glob[base]
            if trig != 0 and (eu_glob[base + 1] & trig) == trig:
                return _fire_barrier(base, c, now + params[P_BARRIER_LATENCY], eu_core, eu_glob, cyc, tim, xreg,
                                     freg, stat, wake_latency)
    return NEVER


# ---------------------------------------------------------------------------- DMA

@jit
def dma_load(off, port, eu_core, dma_tr, dma_port, dma_glob):
    """Load from a DMA command port. Returns (ok, value)."""
    if off == 0x0:  # allocate a transfer id
        for tid in range(NUM_TIDS):
            if dma_tr[tid, D_STATE] == 0:
                dma_tr[tid, D_STATE] = 1
                dma_port[port, DP_TID] = tid
                dma_port[port, DP_STEP] = 0
                return True, tid
        return True, -1 & MASK32  # no free id
    if off == 0x4:
        busy = 0
        alloc = 0
        for tid in range(NUM_TIDS):
            if dma_tr[tid, D_STATE] == 2:
                busy |= 1 << tid
            if dma_tr[tid, D_STATE] != 0:
                alloc |= 1 << tid
        return True, busy | (alloc << 16)
    return True, 0


@jit
def dma_store(off, port, c, now, value, regions, dma_tr, dma_port, dma_glob, params):
    """Store to a DMA command port. Returns (status, aux): status 0 ok, 1 a transfer was queued
    (aux = cycle its data may start moving), 2 bad transfer (aux = bad address)."""
    value &= MASK32
    if off == 0x4:  # free transfer ids
        for tid in range(NUM_TIDS):
            if (value >> tid) & 1 and dma_tr[tid, D_STATE] == 1:
                dma_tr[tid, D_STATE] = 0
        return 0, 0
    if off != 0x0:
        return 0, 0
    step = dma_port[port, DP_STEP]
    tid = dma_port[port, DP_TID]
    if step == 0 and (tid < 0 or dma_tr[tid, D_STATE] != 1):
        # a command without a prior id read: allocate one now
        tid = -1
        for k in range(NUM_TIDS):
            if dma_tr[k, D_STATE] == 0:
                tid = k
                break
        if tid < 0:
            return 2, 0
        dma_tr[tid, D_STATE] = 1
        dma_port[port, DP_TID] = tid
    if step == 0:
        dma_tr[tid, D_CMD] = value
    elif step == 1:
        dma_tr[tid, D_TCDM] = value
    elif step == 2:
        dma_tr[tid, D_EXT] = value
    elif step == 3:
        dma_tr[tid, D_COUNT] = value
    elif step == 4:
        dma_tr[tid, D_STRIDE] = value
    step += 1
    last = 5 if (dma_tr[tid, D_CMD] & CMD_2D_EXT) != 0 else 3
    if step < last:
        dma_port[port, DP_STEP] = step
        return 0, 0
    dma_port[port, DP_STEP] = 0
    dma_port[port, DP_TID] = -1
    cmd = dma_tr[tid, D_CMD]
    length = cmd & CMD_LEN_MASK
    if (cmd & CMD_2D_EXT) == 0:
        dma_tr[tid, D_COUNT] = length if length > 0 else 1
        dma_tr[tid, D_STRIDE] = length
    # check both sides before anything moves
    if find_region(regions, dma_tr[tid, D_TCDM], length) < 0:
        dma_tr[tid, D_STATE] = 0
        return 2, dma_tr[tid, D_TCDM]
    count = dma_tr[tid, D_COUNT]
    if count <= 0:
        dma_tr[tid, D_STATE] = 0
        return 2, dma_tr[tid, D_EXT]
    rows = (length + count - 1) // count
    ext_last = dma_tr[tid, D_EXT] + (rows - 1) * dma_tr[tid, D_STRIDE]
    r_first = find_region(regions, dma_tr[tid, D_EXT], min(count, length))
    r_last = find_region(regions, ext_last, length - (rows - 1) * count)
    # every row lies between the first and the last: both in one region means all rows are in it
    if length > 0 and (r_first < 0 or r_last != r_first):
        dma_tr[tid, D_STATE] = 0
        return 2, dma_tr[tid, D_EXT]
    dma_tr[tid, D_STATE] = 2
    dma_tr[tid, D_DONE] = 0
    dma_tr[tid, D_CORE] = c
    dma_tr[tid, D_SEQ] = dma_glob[DG_NEXT_SEQ]
    dma_glob[DG_NEXT_SEQ] += 1
    dma_tr[tid, D_START] = now + 1 + params[P_DMA_LATENCY]
    dma_tr[tid, D_FIRST] = -1
    dma_glob[DG_TRANSFERS] += 1
    if dma_glob[DG_ACTIVE] < 0:
        _dma_pick_next(dma_tr, dma_glob)
    return 1, dma_glob[DG_TIME]


@jit
def _dma_pick_next(dma_tr, dma_glob):
    """Make the oldest queued transfer the active one and set the DMA clock."""
    best = -1
    for tid in range(NUM_TIDS):
        if dma_tr[tid, D_STATE] == 2 and (best < 0 or dma_tr[tid, D_SEQ] < dma_tr[best, D_SEQ]):
            best = tid
    dma_glob[DG_ACTIVE] = best
    if best < 0:
        dma_glob[DG_TIME] = NEVER
    else:
        dma_glob[DG_TIME] = max(dma_glob[DG_TIME] if dma_glob[DG_TIME] < NEVER else 0, dma_tr[best, D_START])


@jit
def dma_chunks(dma_tr, dma_glob, regions, nbanks, out):
    """The (up to 2) chunks the DMA wants to move now: out[i] = (tcdm addr, ext addr, nbytes, bank).

    Returns how many. Each chunk is at most one 32-bit word and never crosses a 2-D row.
    """
    tid = dma_glob[DG_ACTIVE]
    if tid < 0:
        return 0
    length = dma_tr[tid, D_CMD] & CMD_LEN_MASK
    done = dma_tr[tid, D_DONE]
    count = dma_tr[tid, D_COUNT]
    n = 0
    while n < 2 and done < length:
        row = done // count
        col = done - row * count
        nb = min(4 - (dma_tr[tid, D_TCDM] + done) % 4, length - done, count - col)
        tcdm = dma_tr[tid, D_TCDM] + done
        out[n, 0] = tcdm
        out[n, 1] = dma_tr[tid, D_EXT] + row * dma_tr[tid, D_STRIDE] + col
        out[n, 2] = nb
        r = find_region(regions, tcdm, nb)
        out[n, 3] = ((tcdm - regions[r, R_BASE]) >> 2) & (nbanks - 1) if regions[r, R_KIND] != RK_PLAIN else -1
        done += nb
        n += 1
    return n


@jit
def dma_move(chunk, now, dma_tr, dma_glob, regions, mem8):
    """Copy one granted chunk between L2 and TCDM (direction from the active command).

    Returns the flat memory offset of the bytes written (-1: none), so that decoded code there is
    marked stale."""
    tid = dma_glob[DG_ACTIVE]
    if dma_tr[tid, D_FIRST] < 0:
        dma_tr[tid, D_FIRST] = now
    tcdm = chunk[0]
    ext = chunk[1]
    nb = chunk[2]
    rt = find_region(regions, tcdm, nb)
    re = find_region(regions, ext, nb)
    if rt < 0 or re < 0:  # cannot happen for a validated transfer; never index outside memory
        dma_tr[tid, D_DONE] += nb
        return -1
    ot = tcdm - regions[rt, R_BASE] + regions[rt, R_OFFSET]
    oe = ext - regions[re, R_BASE] + regions[re, R_OFFSET]
    dst = oe
    if (dma_tr[tid, D_CMD] & CMD_TYPE_EXT2LOC) != 0:
        dst = ot
        for i in range(nb):
            mem8[ot + i] = mem8[oe + i]
    else:
        for i in range(nb):
            mem8[oe + i] = mem8[ot + i]
    dma_tr[tid, D_DONE] += nb
    dma_glob[DG_BYTES] += nb
    return dst


@jit
def dma_finish_if_done(now, dma_tr, dma_glob, dma_log, eu_core, cyc, tim, xreg, freg, stat, params):
    """Complete the active transfer if all its bytes moved; raise its event. Returns the earliest wake."""
    tid = dma_glob[DG_ACTIVE]
    if tid < 0:
        return NEVER
    cmd = dma_tr[tid, D_CMD]
    if dma_tr[tid, D_DONE] < (cmd & CMD_LEN_MASK):
        return NEVER
    dma_tr[tid, D_STATE] = 1  # done: the id stays allocated until the program frees it
    n = dma_glob[DG_LOG_N]
    if n < dma_log.shape[0]:
        dma_log[n, DL_TID] = tid
        dma_log[n, DL_CORE] = dma_tr[tid, D_CORE]
        dma_log[n, DL_FIRST] = dma_tr[tid, D_FIRST] if dma_tr[tid, D_FIRST] >= 0 else now
        dma_log[n, DL_END] = now + 1
        dma_log[n, DL_BYTES] = cmd & CMD_LEN_MASK
        dma_log[n, DL_TO_TCDM] = 1 if (cmd & CMD_TYPE_EXT2LOC) else 0
        dma_glob[DG_LOG_N] = n + 1
    earliest = NEVER
    if cmd & CMD_ELE:
        targets = ((1 << eu_core.shape[0]) - 1) if (cmd & CMD_BLE) else (1 << dma_tr[tid, D_CORE])
        earliest = raise_events(targets, 1 << EVT_DMA, now, eu_core, cyc, tim, xreg, freg, stat,
                                params[P_WAKE_LATENCY])
    _dma_pick_next(dma_tr, dma_glob)
    if dma_glob[DG_ACTIVE] >= 0 and dma_glob[DG_TIME] <= now:
        dma_glob[DG_TIME] = now + 1
    return earliest


# ---------------------------------------------------------------------------- dispatch by address

PS_DONE = 0
PS_SLEEP = 1       #: the core parks until an event wakes it
PS_UNMAPPED = 2    #: nothing there: access fault
PS_DMA_FAULT = 3   #: a DMA command with an address outside memory (aux = address)


@jit
def periph_offset(addr, params):
    """Offset of addr in the cluster peripheral window (direct or through the cluster alias), or -1."""
    off = addr - params[P_PERIPH_BASE]
    if 0 <= off < WINDOW:
        return off
    off = addr - 0x0020_0000
    if 0 <= off < WINDOW:
        return off
    return -1


@jit
def periph_load(off, c, now, rd, pc_, eu_core, eu_glob, dma_tr, dma_port, dma_glob, cyc, tim, xreg, freg,
                stat, params):
    """A core's 32-bit load from the peripheral window: (status PS_*, value, cycles, earliest wake)."""
    slow = params[P_PERIPH_LATENCY]
    if EU_DEMUX <= off < EU_DEMUX + 0x400:
        st, v, cost, w = eu_load(off - EU_DEMUX, c, now, rd, pc_, eu_core, eu_glob, cyc, tim, xreg, freg,
                                 stat, params)
        return st, v, cost, w
    if DMA_DEMUX <= off < DMA_DEMUX + 0x400:
        ok, v = dma_load(off - DMA_DEMUX, c, eu_core, dma_tr, dma_port, dma_glob)
        return PS_DONE, v, 1, NEVER
    if DMA_SHARED_BASE <= off < DMA_SHARED_BASE + 0x400:
        ok, v = dma_load(off - DMA_SHARED_BASE, eu_core.shape[0], eu_core, dma_tr, dma_port, dma_glob)
        return PS_DONE, v, slow, NEVER
    if CTRL_BASE <= off < CTRL_BASE + 0x400:
        v = eu_core.shape[0] if off == 0xF0 else 0
        return PS_DONE, v, slow, NEVER
    if TIMER_BASE <= off < TIMER_BASE + 0x400:
        r = off - TIMER_BASE
        v = (now & MASK32) if r == 0x08 else ((now >> 32) & MASK32 if r == 0x0C else 0)
        return PS_DONE, v, slow, NEVER
    return PS_UNMAPPED, 0, 1, NEVER


@jit
def periph_store(off, c, now, value, regions, eu_core, eu_glob, dma_tr, dma_port, dma_glob, cyc, tim,
                 xreg, freg, stat, params):
    """A core's 32-bit store to the peripheral window: (status PS_*, cycles, earliest wake or DMA start, aux)."""
    slow = params[P_PERIPH_LATENCY]
    if EU_DEMUX <= off < EU_DEMUX + 0x400:
        w = eu_store(off - EU_DEMUX, c, now, value, eu_core, eu_glob, cyc, tim, xreg, freg, stat, params)
        return PS_DONE, 1, w, 0
    if DMA_DEMUX <= off < DMA_DEMUX + 0x400 or DMA_SHARED_BASE <= off < DMA_SHARED_BASE + 0x400:
        demux = off >= DMA_DEMUX
        port = c if demux else eu_core.shape[0]
        st, aux = dma_store(off - (DMA_DEMUX if demux else DMA_SHARED_BASE), port, c, now, value, regions,
                            dma_tr, dma_port, dma_glob, params)
        cost = 1 if demux else slow
        if st == 2:
            return PS_DMA_FAULT, cost, NEVER, aux
        return PS_DONE, cost, aux if st == 1 else NEVER, 0
    if CTRL_BASE <= off < CTRL_BASE + 0x400 or TIMER_BASE <= off < TIMER_BASE + 0x400:
        return PS_DONE, slow, NEVER, 0  # accepted and ignored
    return PS_UNMAPPED, 1, NEVER, 0
