/* <stdio.h> of the pulpsim runtime: formatted output to the SoC stdout port (runtime.c). */
#ifndef PULPSIM_LIBC_STDIO_H
#define PULPSIM_LIBC_STDIO_H
#include "pulpsim.h"
#endif
