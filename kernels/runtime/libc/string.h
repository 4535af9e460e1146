/* <string.h> of the pulpsim runtime: memcpy, memset, memmove, memcmp, strlen, strcmp (runtime.c). */
#ifndef PULPSIM_LIBC_STRING_H
#define PULPSIM_LIBC_STRING_H
#include "pulpsim.h"
#endif
