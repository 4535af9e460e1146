/*
 * bsp/fs.h: the PULP SDK's file-system API (pmsis_bsp include/bsp/fs.h):
 * types, enums and prototypes, so that programs using it build unchanged.
 *
 * pulpsim simulates no flash and no host file system: pi_fs_mount and the
 * file calls stop the program with "pmsis: fatal: ..." and exit code 0x7E
 * (bsp.c).  Put input data in the program instead (PI_L2 arrays).
 */
#ifndef PULPSIM_BSP_FS_H
#define PULPSIM_BSP_FS_H

#include <stdbool.h>
#include <stdint.h>
#include "pmsis.h"

typedef enum {
    PI_FS_READ_ONLY = 0,
    PI_FS_HOST = 1,
    PI_FS_LFS = 2
} pi_fs_type_e;

typedef enum {
    PI_FS_FLAGS_READ = 0,
    PI_FS_FLAGS_WRITE = 1,
    PI_FS_FLAGS_APPEND = 2
} pi_fs_flags_e;

typedef struct __pi_fs_api_t pi_fs_api_t;

struct pi_fs_conf {
    pi_fs_type_e type;
    struct pi_device *flash;
    char *partition_name;
    bool auto_format;
    pi_fs_api_t *api;
};

typedef struct pi_fs_file_s {
    struct pi_device *fs;
    uint32_t size;
    uint32_t offset;
} pi_fs_file_t;

void pi_fs_conf_init(struct pi_fs_conf *conf);
/* Stop the program: there is no file system to mount. */
int32_t pi_fs_mount(struct pi_device *device);
void pi_fs_unmount(struct pi_device *device);
pi_fs_file_t *pi_fs_open(struct pi_device *device, const char *file, int flags);
void pi_fs_close(pi_fs_file_t *file);
int32_t pi_fs_read(pi_fs_file_t *file, void *buffer, uint32_t size);
int32_t pi_fs_write(pi_fs_file_t *file, void *buffer, uint32_t size);
int32_t pi_fs_direct_read(pi_fs_file_t *file, void *buffer, uint32_t size);
int32_t pi_fs_seek(pi_fs_file_t *file, unsigned int offset);
int32_t pi_fs_copy(pi_fs_file_t *file, uint32_t index, void *buffer, uint32_t size, int32_t ext2loc);
int32_t pi_fs_copy_2d(pi_fs_file_t *file, uint32_t index, void *buffer, uint32_t size, uint32_t stride,
                      uint32_t length, int32_t ext2loc);

#endif
