/*
 * bsp.c: the board-support calls of bsp/fs.h and bsp/fs/readfs.h.  The
 * configuration calls fill in defaults; every call that needs a flash or a
 * file system stops the program with a message naming the call, because
 * pulpsim simulates neither.  Each function has a section of its own, so
 * that a program links only the ones it calls (--gc-sections).
 */
#include "bsp/fs/readfs.h"
#include "pmsis_impl.h"

#define BSP_FN(type, name) __attribute__((section(".text." #name))) type name

/* Ends the run as __pmsis_fatal does, naming the call. */
static void __attribute__((noreturn)) bsp_no_fs(const char *call)
{
    printf("pmsis: fatal: %s: pulpsim simulates no flash and no file system; put the data in the program "
           "(PI_L2 arrays) instead\n", call);
    exit(PMSIS_FATAL_EXIT_CODE);
}

BSP_FN(void, pi_fs_conf_init)(struct pi_fs_conf *conf)
{
    conf->type = PI_FS_READ_ONLY;
    conf->flash = NULL;
    conf->partition_name = NULL;
    conf->auto_format = false;
    conf->api = NULL;
}

BSP_FN(void, pi_readfs_conf_init)(struct pi_readfs_conf *conf)
{
    pi_fs_conf_init(&conf->fs);
}

BSP_FN(int32_t, pi_fs_mount)(struct pi_device *device) { (void)device; bsp_no_fs("pi_fs_mount"); }
BSP_FN(void, pi_fs_unmount)(struct pi_device *device) { (void)device; bsp_no_fs("pi_fs_unmount"); }

BSP_FN(pi_fs_file_t *, pi_fs_open)(struct pi_device *device, const char *file, int flags)
{
    (void)device, (void)file, (void)flags;
    bsp_no_fs("pi_fs_open");
}

BSP_FN(void, pi_fs_close)(pi_fs_file_t *file) { (void)file; bsp_no_fs("pi_fs_close"); }

BSP_FN(int32_t, pi_fs_read)(pi_fs_file_t *file, void *buffer, uint32_t size)
{
    (void)file, (void)buffer, (void)size;
    bsp_no_fs("pi_fs_read");
}

BSP_FN(int32_t, pi_fs_write)(pi_fs_file_t *file, void *buffer, uint32_t size)
{
    (void)file, (void)buffer, (void)size;
    bsp_no_fs("pi_fs_write");
}

BSP_FN(int32_t, pi_fs_direct_read)(pi_fs_file_t *file, void *buffer, uint32_t size)
{
    (void)file, (void)buffer, (void)size;
    bsp_no_fs("pi_fs_direct_read");
}

BSP_FN(int32_t, pi_fs_seek)(pi_fs_file_t *file, unsigned int offset)
{
    (void)file, (void)offset;
    bsp_no_fs("pi_fs_seek");
}

BSP_FN(int32_t, pi_fs_copy)(pi_fs_file_t *file, uint32_t index, void *buffer, uint32_t size, int32_t ext2loc)
{
    (void)file, (void)index, (void)buffer, (void)size, (void)ext2loc;
    bsp_no_fs("pi_fs_copy");
}

BSP_FN(int32_t, pi_fs_copy_2d)(pi_fs_file_t *file, uint32_t index, void *buffer, uint32_t size, uint32_t stride,
                               uint32_t length, int32_t ext2loc)
{
    (void)file, (void)index, (void)buffer, (void)size, (void)stride, (void)length, (void)ext2loc;
    bsp_no_fs("pi_fs_copy_2d");
}
