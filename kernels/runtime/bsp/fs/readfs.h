/*
 * bsp/fs/readfs.h: the PULP SDK's read-only file system (pmsis_bsp
 * include/bsp/fs/readfs.h).  It builds; mounting it stops the program
 * (see bsp/fs.h).
 */
#ifndef PULPSIM_BSP_FS_READFS_H
#define PULPSIM_BSP_FS_READFS_H

#include "bsp/fs.h"

struct pi_readfs_conf {
    struct pi_fs_conf fs;
};

void pi_readfs_conf_init(struct pi_readfs_conf *conf);

#endif
