// SPDX-License-Identifier: GPL-2.0
/* The samples link the one userspace helper library, built from its source. */
#include "../../tools/lib/kmbuf/libkmbuf.c"
