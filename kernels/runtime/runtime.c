/*
 * runtime.c: the minimal C runtime of pulpsim guest programs (RV32IMF).
 *
 *   - exit():    CORESTATUS store (or tohost with -DPULPSIM_EXIT_TOHOST)
 *   - putchar(): SoC stdout peripheral, one 32-bit store per character
 *   - puts(), printf(), vprintf(), snprintf(), vsnprintf()
 *   - memcpy, memset, memmove, memcmp, strlen, strcmp (compilers emit calls
 *     to the first three for struct copies and zero-initialisation)
 *
 * Floating-point conversions (%f %e %g) are exact: the double is decomposed
 * into its integer mantissa and binary exponent and converted to decimal with
 * integer (multi-word) arithmetic and round-half-to-even, the way glibc does,
 * so printed digits match a host's printf bit for bit.  No floating-point
 * instruction or soft-double routine is used by the formatter.
 *
 * This file is also compiled on the host by the test-suite (with the public
 * names renamed by -D) to compare snprintf against glibc: keep the
 * target-specific parts behind the CSR helpers of pulpsim.h.
 */
#include "pulpsim.h"

#if defined(__GNUC__) && !defined(__clang__)
/* GCC would recognise the copy/fill loops below as memcpy/memset idioms and
 * turn them into calls to ... memcpy/memset (infinite recursion). */
#define PS_NO_LOOP_IDIOMS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define PS_NO_LOOP_IDIOMS
#endif

/* ------------------------------------------------------------------------ */
/* Host interface and exit                                                  */
/* ------------------------------------------------------------------------ */

/* Spike convention: a store of (code << 1) | 1 to tohost ends the run.  The
 * simulator finds these through the ELF symbol table.  Own section so that
 * the linker script can keep them (KEEP) and place them predictably. */
__attribute__((section(".tohost"), aligned(8), used)) volatile uint32_t tohost = 0;
__attribute__((section(".tohost"), aligned(8), used)) volatile uint32_t fromhost = 0;

void exit(int code)
{
#ifdef PULPSIM_EXIT_TOHOST
    tohost = ((uint32_t)code << 1) | 1u;
#else
    *(volatile uint32_t *)(uintptr_t)PULPSIM_CORESTATUS_ADDR =
        (1u << 31) | ((uint32_t)code & 0x7FFFFFFFu);
#endif
    /* The simulator stops at the store; never fall through on real hardware. */
    for (;;) {
        __asm__ volatile("");
    }
}

int putchar(int c)
{
    unsigned hart = read_csr_mhartid();
    /* stdout + (core_id << 3) + (cluster_id << 7): one channel per core. */
    uintptr_t addr = (uintptr_t)PULPSIM_STDOUT_ADDR + ((hart & 0xFu) << 3) +
                     (((hart >> 5) & 0x3Fu) << 7);
    *(volatile uint32_t *)addr = (uint32_t)(unsigned char)c;
    return (unsigned char)c;
}

int puts(const char *s)
{
    while (*s)
        putchar(*s++);
    putchar('\n');
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Memory and string functions                                              */
/* ------------------------------------------------------------------------ */

/* Word accesses through a may_alias type: these functions copy objects of any
 * type, so strict-aliasing assumptions must not apply. */
typedef uint32_t __attribute__((may_alias)) word_t;

PS_NO_LOOP_IDIOMS static void copy_forward(unsigned char *d, const unsigned char *s, size_t n)
{
    if ((((uintptr_t)d | (uintptr_t)s) & 3u) == 0) {
        word_t *dw = (word_t *)d;
        const word_t *sw = (const word_t *)s;
        /* Four loads before four stores: no load-use stalls in the loop. */
        for (; n >= 16; n -= 16, dw += 4, sw += 4) {
            uint32_t a = sw[0], b = sw[1], c = sw[2], e = sw[3];
            dw[0] = a;
            dw[1] = b;
            dw[2] = c;
            dw[3] = e;
        }
        for (; n >= 4; n -= 4)
            *dw++ = *sw++;
        d = (unsigned char *)dw;
        s = (const unsigned char *)sw;
    }
    while (n--)
        *d++ = *s++;
}

PS_NO_LOOP_IDIOMS void *memcpy(void *dst, const void *src, size_t n)
{
    copy_forward((unsigned char *)dst, (const unsigned char *)src, n);
    return dst;
}

PS_NO_LOOP_IDIOMS void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if (d == s || n == 0)
        return dst;
    if (d < s || d >= s + n) {
        /* Forward copy is safe: every source word is read before the
         * destination reaches it. */
        copy_forward(d, s, n);
        return dst;
    }
    d += n;
    s += n;
    if ((((uintptr_t)d | (uintptr_t)s) & 3u) == 0) {
        word_t *dw = (word_t *)d;
        const word_t *sw = (const word_t *)s;
        for (; n >= 4; n -= 4)
            *--dw = *--sw;
        d = (unsigned char *)dw;
        s = (const unsigned char *)sw;
    }
    while (n--)
        *--d = *--s;
    return dst;
}

PS_NO_LOOP_IDIOMS void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    unsigned char b = (unsigned char)c;
    while (n > 0 && ((uintptr_t)d & 3u)) {
        *d++ = b;
        n--;
    }
    if (n >= 4) {
        uint32_t w = b * 0x01010101u;
        word_t *dw = (word_t *)d;
        for (; n >= 16; n -= 16, dw += 4) {
            dw[0] = w;
            dw[1] = w;
            dw[2] = w;
            dw[3] = w;
        }
        for (; n >= 4; n -= 4)
            *dw++ = w;
        d = (unsigned char *)dw;
    }
    while (n--)
        *d++ = b;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return (int)*x - (int)*y;
    return 0;
}

size_t strlen(const char *s)
{
    const char *p = s;
    while (*p)
        p++;
    return (size_t)(p - s);
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (int)(unsigned char)*a - (int)(unsigned char)*b;
}

/* ------------------------------------------------------------------------ */
/* printf                                                                   */
/* ------------------------------------------------------------------------ */

/* Output sink: a buffer (snprintf) or stdout (buf == NULL). */
typedef struct {
    char *buf;
    size_t cap;
    size_t len; /* characters produced so far, including ones not stored */
} sink_t;

static void emit(sink_t *o, char c)
{
    if (!o)
        return; /* length-only pass */
    if (o->buf) {
        if (o->len + 1 < o->cap)
            o->buf[o->len] = c;
    } else {
        putchar(c);
    }
    o->len++;
}

static void emit_rep(sink_t *o, char c, int n)
{
    while (n-- > 0)
        emit(o, c);
}

typedef struct {
    int left, plus, space, alt, zero;
    int width; /* 0: none */
    int prec;  /* -1: none */
} spec_t;

/* Emits [spaces] prefix [zeros] body [spaces] for a field of f->width. */
static void emit_field(sink_t *o, const spec_t *f, const char *prefix, int nprefix, int nzeros,
                       const char *body, int nbody, int body_reversed)
{
    int pad = f->width - (nprefix + nzeros + nbody);
    int i;
    if (!f->left)
        emit_rep(o, ' ', pad);
    for (i = 0; i < nprefix; i++)
        emit(o, prefix[i]);
    emit_rep(o, '0', nzeros);
    for (i = 0; i < nbody; i++)
        emit(o, body[body_reversed ? nbody - 1 - i : i]);
    if (f->left)
        emit_rep(o, ' ', pad);
}

static void fmt_int(sink_t *o, const spec_t *f, uint64_t v, int neg, unsigned base, int upper,
                    int hex_prefix)
{
    const char *digs = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char buf[24]; /* digits, least significant first */
    char prefix[3];
    int n = 0, np = 0, nz = 0;

    if (base == 16 || base == 8) {
        unsigned shift = base == 16 ? 4 : 3;
        while (v) {
            buf[n++] = digs[v & (base - 1)];
            v >>= shift;
        }
    } else {
        while (v >> 32) { /* 64-bit division only while needed */
            buf[n++] = digs[v % 10u];
            v /= 10u;
        }
        uint32_t x = (uint32_t)v;
        while (x) {
            buf[n++] = digs[x % 10u];
            x /= 10u;
        }
    }
    if (neg)
        prefix[np++] = '-';
    else if (f->plus)
        prefix[np++] = '+';
    else if (f->space)
        prefix[np++] = ' ';
    if (hex_prefix && (n > 0 || hex_prefix > 1)) { /* %#x of 0 is "0"; %p is always 0x */
        prefix[np++] = '0';
        prefix[np++] = upper ? 'X' : 'x';
    }
    if (f->prec >= 0) {
        /* The precision is the minimum number of digits; "%.0d" of 0 is "". */
        if (f->prec > n)
            nz = f->prec - n;
    } else {
        if (n == 0)
            buf[n++] = '0';
        if (f->zero && !f->left && f->width > np + n)
            nz = f->width - np - n;
    }
    if (base == 8 && f->alt && nz == 0 && (n == 0 || buf[n - 1] != '0'))
        buf[n++] = '0';
    emit_field(o, f, prefix, np, nz, buf, n, 1);
}

/* --- exact binary-to-decimal conversion of doubles --------------------- */

#define PS_MAXPREC 80                   /* digits beyond are printed as 0     */
#define PS_DIGMAX (310 + PS_MAXPREC + 4)   /* 309 integer digits of DBL_MAX + ... */
#define PS_BN_WORDS 36                  /* 1152 bits: 2^1024, or 2^-1074 frac  */

typedef struct {
    char d[PS_DIGMAX]; /* significant digits, '0'..'9', first is the leading one */
    int n;          /* number of valid digits (digits beyond are '0')         */
    int dexp;       /* decimal exponent of d[0]                              */
} dec_t;

/* A binary fraction R / 2^(32*fw), R held in words w[lo..hi). */
typedef struct {
    uint32_t w[PS_BN_WORDS];
    int lo, hi, fw;
} frac_t;

/* Next decimal digit of the fraction: R *= 10, the carry out of the top
 * fraction word is the digit. */
static unsigned frac_next(frac_t *r)
{
    uint32_t carry = 0;
    int i;
    for (i = r->lo; i < r->hi; i++) {
        uint64_t t = (uint64_t)r->w[i] * 10u + carry;
        r->w[i] = (uint32_t)t;
        carry = (uint32_t)(t >> 32);
    }
    if (carry && r->hi < r->fw) {
        r->w[r->hi++] = carry;
        carry = 0;
    }
    while (r->lo < r->hi && r->w[r->lo] == 0)
        r->lo++;
    return carry;
}

static void reverse(char *s, int n)
{
    int i;
    for (i = 0; i < n / 2; i++) {
        char t = s[i];
        s[i] = s[n - 1 - i];
        s[n - 1 - i] = t;
    }
}

/* Decimal digits of the integer in w[0..n) (destroyed), most significant
 * first; returns their count (0 for zero). */
static int int_digits(uint32_t *w, int n, char *out)
{
    int len = 0;
    while (n > 1) {
        /* w /= 1e9, rem = the next 9 digits */
        uint32_t rem = 0;
        int i;
        for (i = n - 1; i >= 0; i--) {
            uint64_t cur = ((uint64_t)rem << 32) | w[i];
            uint32_t q = (uint32_t)(cur / 1000000000u);
            rem = (uint32_t)(cur - (uint64_t)q * 1000000000u);
            w[i] = q;
        }
        while (n > 0 && w[n - 1] == 0)
            n--;
        for (i = 0; i < 9; i++) {
            out[len++] = (char)('0' + rem % 10u);
            rem /= 10u;
        }
    }
    if (n == 1) {
        uint32_t x = w[0];
        while (x) {
            out[len++] = (char)('0' + x % 10u);
            x /= 10u;
        }
    }
    /* No leading zeros: 9-digit groups are only written zero-padded while a
     * nonzero quotient remains, and the last group is written unpadded. */
    reverse(out, len);
    return len;
}

/* Converts |x| (bits without the sign) to decimal digits, rounded half to
 * even either to prec+1 significant digits (fmode = 0, %e) or to prec digits
 * after the decimal point (fmode = 1, %f).  x must be finite. */
static void dec_convert(uint64_t bits, int fmode, int prec, dec_t *o)
{
    int bexp = (int)(bits >> 52);
    uint64_t m = bits & ((1ull << 52) - 1);
    uint32_t iw[PS_BN_WORDS];
    frac_t r;
    int in = 0, have, nd, e2, i;

    o->n = 0;
    o->dexp = 0;
    if (bexp == 0 && m == 0)
        return; /* zero: all digits '0', exponent 0 */
    if (bexp == 0) {
        e2 = -1074; /* subnormal */
    } else {
        m |= 1ull << 52;
        e2 = bexp - 1075;
    }
    while (e2 < 0 && !(m & 1)) { /* fewer fraction bits, less work */
        m >>= 1;
        e2++;
    }

    r.lo = r.hi = r.fw = 0;
    if (e2 >= 0) {
        /* Integer: m << e2, no fraction. */
        int ws = e2 / 32, bs = e2 % 32;
        uint32_t lo32 = (uint32_t)m, hi32 = (uint32_t)(m >> 32);
        for (i = 0; i < ws; i++)
            iw[i] = 0;
        if (bs == 0) {
            iw[ws] = lo32;
            iw[ws + 1] = hi32;
            iw[ws + 2] = 0;
        } else {
            iw[ws] = lo32 << bs;
            iw[ws + 1] = (hi32 << bs) | (lo32 >> (32 - bs));
            iw[ws + 2] = hi32 >> (32 - bs);
        }
        in = ws + 3;
    } else {
        /* m / 2^s: integer part ip, fraction fp / 2^s re-based to a word
         * boundary (fp << k) / 2^(32*fw) so digits fall out as carries. */
        int s = -e2, k;
        uint64_t ip = s < 64 ? m >> s : 0;
        uint64_t fp = s < 64 ? m & ((1ull << s) - 1) : m;
        uint32_t f0 = (uint32_t)fp, f1 = (uint32_t)(fp >> 32), w0, w1, w2;
        iw[0] = (uint32_t)ip;
        iw[1] = (uint32_t)(ip >> 32);
        in = 2;
        r.fw = (s + 31) / 32;
        k = r.fw * 32 - s;
        if (k == 0) {
            w0 = f0;
            w1 = f1;
            w2 = 0;
        } else {
            w0 = f0 << k;
            w1 = (f1 << k) | (f0 >> (32 - k));
            w2 = f1 >> (32 - k);
        }
        for (i = 0; i < r.fw; i++)
            r.w[i] = 0;
        /* fp < 2^s, so fp << k < 2^(32*fw): only the words below fw are used */
        r.w[0] = w0;
        if (r.fw > 1)
            r.w[1] = w1;
        if (r.fw > 2)
            r.w[2] = w2;
        r.hi = r.fw < 3 ? r.fw : 3;
        while (r.hi > 0 && r.w[r.hi - 1] == 0)
            r.hi--;
        while (r.lo < r.hi && r.w[r.lo] == 0)
            r.lo++;
    }
    while (in > 0 && iw[in - 1] == 0)
        in--;

    have = in ? int_digits(iw, in, o->d) : 0;
    if (have) {
        o->dexp = have - 1;
    } else {
        /* 0 < x < 1: skip the leading zeros of the fraction. */
        unsigned dg;
        int z = 0;
        for (;;) {
            dg = frac_next(&r);
            if (dg)
                break;
            z++;
            if (fmode && z > prec) {
                /* The first prec+1 decimals are 0: rounds to zero. */
                o->dexp = -(z + 1);
                return;
            }
        }
        o->d[0] = (char)('0' + dg);
        have = 1;
        o->dexp = -(z + 1);
    }

    nd = fmode ? o->dexp + 1 + prec : prec + 1; /* digits kept */
    if (nd > PS_DIGMAX - 2)
        nd = PS_DIGMAX - 2;
    if (nd < 0)
        return;
    while (have < nd + 1) /* one more: the rounding digit */
        o->d[have++] = (char)('0' + frac_next(&r));

    {
        int rd = o->d[nd] - '0';
        int sticky = r.lo < r.hi; /* nonzero bits beyond the digits */
        int up;
        for (i = nd + 1; i < have && !sticky; i++)
            if (o->d[i] != '0')
                sticky = 1;
        up = rd > 5 || (rd == 5 && (sticky || (nd > 0 && ((o->d[nd - 1] - '0') & 1))));
        if (up) {
            for (i = nd - 1; i >= 0 && o->d[i] == '9'; i--)
                o->d[i] = '0';
            if (i >= 0) {
                o->d[i]++;
            } else {
                /* 99..9 -> 100..0: the exponent grows; %f keeps one more digit */
                o->dexp++;
                if (fmode)
                    nd++;
                o->d[0] = '1';
                for (i = 1; i < nd; i++)
                    o->d[i] = '0';
            }
        }
    }
    o->n = nd;
}

static char dec_digit(const dec_t *v, int idx)
{
    return (idx >= 0 && idx < v->n) ? v->d[idx] : '0';
}

/* Writes the body of a %f-style number with p decimals (o == NULL: only
 * counts); returns its length. */
static int body_f(sink_t *o, const dec_t *v, int p, int point)
{
    int len = 0, i;
    if (v->dexp >= 0) {
        for (i = 0; i <= v->dexp; i++, len++)
            emit(o, dec_digit(v, i));
    } else {
        emit(o, '0');
        len++;
    }
    if (p > 0 || point) {
        emit(o, '.');
        len++;
    }
    for (i = 1; i <= p; i++, len++)
        emit(o, dec_digit(v, v->dexp + i));
    return len;
}

/* Same for %e style: d.ddd e+XX (at least two exponent digits). */
static int body_e(sink_t *o, const dec_t *v, int p, int point, int upper)
{
    int len = 0, i, x = v->dexp, nx = 0;
    char xd[6];
    emit(o, dec_digit(v, 0));
    len++;
    if (p > 0 || point) {
        emit(o, '.');
        len++;
    }
    for (i = 1; i <= p; i++, len++)
        emit(o, dec_digit(v, i));
    emit(o, upper ? 'E' : 'e');
    emit(o, x < 0 ? '-' : '+');
    len += 2;
    if (x < 0)
        x = -x;
    while (x || nx < 2) {
        xd[nx++] = (char)('0' + x % 10);
        x /= 10;
    }
    while (nx)
        emit(o, xd[--nx]), len++;
    return len;
}

static void fmt_float(sink_t *o, const spec_t *f, double x, char conv)
{
    union {
        double d;
        uint64_t u;
    } u;
    int upper = conv == 'F' || conv == 'E' || conv == 'G';
    char lc = (char)(upper ? conv - 'A' + 'a' : conv);
    char sign = 0;
    dec_t v;
    int prec = f->prec < 0 ? 6 : f->prec;
    int cprec, style, p, len, pad;
    uint64_t bits;

    u.d = x;
    if (u.u >> 63)
        sign = '-';
    else if (f->plus)
        sign = '+';
    else if (f->space)
        sign = ' ';
    bits = u.u & ~(1ull << 63);

    if ((bits >> 52) == 0x7FF) { /* inf / nan: no zero padding (as glibc) */
        const char *s = (bits << 12) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf");
        spec_t g = *f;
        g.zero = 0;
        emit_field(o, &g, &sign, sign ? 1 : 0, 0, s, 3, 0);
        return;
    }

    if (lc == 'g') {
        int gsig = prec == 0 ? 1 : prec, gx;
        cprec = gsig - 1 > PS_MAXPREC ? PS_MAXPREC : gsig - 1;
        dec_convert(bits, 0, cprec, &v);
        gx = v.dexp;
        if (gsig > gx && gx >= -4) {
            style = 'f';
            p = gsig - 1 - gx;
        } else {
            style = 'e';
            p = gsig - 1;
        }
        if (!f->alt) { /* %g drops trailing zeros (and a bare point) */
            if (style == 'f')
                while (p > 0 && dec_digit(&v, v.dexp + p) == '0')
                    p--;
            else
                while (p > 0 && dec_digit(&v, p) == '0')
                    p--;
        }
    } else {
        style = lc;
        p = prec;
        cprec = prec > PS_MAXPREC ? PS_MAXPREC : prec;
        dec_convert(bits, style == 'f', cprec, &v);
    }

    len = style == 'f' ? body_f(0, &v, p, f->alt) : body_e(0, &v, p, f->alt, upper);
    pad = f->width - len - (sign ? 1 : 0);
    if (!f->left && !f->zero)
        emit_rep(o, ' ', pad);
    if (sign)
        emit(o, sign);
    if (!f->left && f->zero)
        emit_rep(o, '0', pad);
    if (style == 'f')
        body_f(o, &v, p, f->alt);
    else
        body_e(o, &v, p, f->alt, upper);
    if (f->left)
        emit_rep(o, ' ', pad);
}

static int vformat(sink_t *o, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        spec_t f;
        int lng = 0; /* -2 hh, -1 h, 0 int, 1 l, 2 ll */
        char c;
        if (*fmt != '%') {
            emit(o, *fmt);
            continue;
        }
        fmt++;
        f.left = f.plus = f.space = f.alt = f.zero = 0;
        f.width = 0;
        f.prec = -1;
        for (;; fmt++) {
            if (*fmt == '-')
                f.left = 1;
            else if (*fmt == '+')
                f.plus = 1;
            else if (*fmt == ' ')
                f.space = 1;
            else if (*fmt == '#')
                f.alt = 1;
            else if (*fmt == '0')
                f.zero = 1;
            else
                break;
        }
        if (*fmt == '*') {
            f.width = va_arg(ap, int);
            if (f.width < 0) {
                f.left = 1;
                f.width = -f.width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                f.width = f.width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            fmt++;
            f.prec = 0;
            if (*fmt == '*') {
                f.prec = va_arg(ap, int);
                if (f.prec < 0)
                    f.prec = -1;
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    f.prec = f.prec * 10 + (*fmt++ - '0');
            }
        }
        for (;; fmt++) {
            if (*fmt == 'l')
                lng = lng < 0 ? 1 : lng + 1;
            else if (*fmt == 'h')
                lng = lng > 0 ? 0 : lng - 1;
            else if (*fmt == 'z' || *fmt == 't')
                lng = sizeof(size_t) > 4 ? 2 : 1;
            else if (*fmt == 'j')
                lng = 2;
            else if (*fmt == 'L')
                lng = 0; /* long double is not supported; treated as double */
            else
                break;
        }
        c = *fmt;
        switch (c) {
        case 'd':
        case 'i': {
            int64_t s;
            if (lng >= 2)
                s = va_arg(ap, long long);
            else if (lng == 1)
                s = va_arg(ap, long);
            else
                s = va_arg(ap, int);
            if (lng == -1)
                s = (short)s;
            else if (lng == -2)
                s = (signed char)s;
            fmt_int(o, &f, s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s, s < 0, 10, 0, 0);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            uint64_t u;
            if (lng >= 2)
                u = va_arg(ap, unsigned long long);
            else if (lng == 1)
                u = va_arg(ap, unsigned long);
            else
                u = va_arg(ap, unsigned int);
            if (lng == -1)
                u = (unsigned short)u;
            else if (lng == -2)
                u = (unsigned char)u;
            f.plus = f.space = 0;
            fmt_int(o, &f, u, 0, c == 'u' ? 10u : c == 'o' ? 8u : 16u, c == 'X',
                    (c == 'x' || c == 'X') && f.alt);
            break;
        }
        case 'p': {
            void *ptr = va_arg(ap, void *);
            if (!ptr) {
                f.prec = -1;
                emit_field(o, &f, 0, 0, 0, "(nil)", 5, 0);
            } else {
                f.plus = f.space = 0;
                fmt_int(o, &f, (uint64_t)(uintptr_t)ptr, 0, 16, 0, 2);
            }
            break;
        }
        case 'c': {
            char ch = (char)va_arg(ap, int);
            f.zero = 0;
            emit_field(o, &f, 0, 0, 0, &ch, 1, 0);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            int n = 0;
            if (!s) /* as glibc: "(null)" unless the precision cuts it */
                s = (f.prec < 0 || f.prec >= 6) ? "(null)" : "";
            while (s[n] && (f.prec < 0 || n < f.prec))
                n++;
            f.zero = 0;
            emit_field(o, &f, 0, 0, 0, s, n, 0);
            break;
        }
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
            fmt_float(o, &f, va_arg(ap, double), c);
            break;
        case '%':
            emit(o, '%');
            break;
        case '\0':
            fmt--; /* lone '%' at the end: stop */
            break;
        default: /* unknown conversion: print it verbatim */
            emit(o, '%');
            emit(o, c);
            break;
        }
    }
    return (int)o->len;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    sink_t o;
    int n;
    o.buf = buf;
    o.cap = size;
    o.len = 0;
    if (!buf) /* snprintf(NULL, 0, ...) measures */
        o.buf = (char *)"", o.cap = 0;
    n = vformat(&o, fmt, ap);
    if (size > 0 && buf)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int vprintf(const char *fmt, va_list ap)
{
    sink_t o;
    o.buf = 0;
    o.cap = 0;
    o.len = 0;
    return vformat(&o, fmt, ap);
}

int printf(const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}
