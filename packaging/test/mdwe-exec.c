/* mdwe-exec PROGRAM [ARGS...]: runs PROGRAM under the seccomp filter systemd 252 installs for
 * MemoryDenyWriteExecute=yes (src/shared/seccomp-util.c, x86-64): mmap() with both PROT_WRITE
 * and PROT_EXEC, mprotect()/pkey_mprotect() adding PROT_EXEC and shmat() with SHM_EXEC fail
 * with EPERM. A program that runs its work under it runs under the unit's setting; systemd
 * itself is not needed (this machine has no running systemd). Build: cc -O2 -o mdwe-exec mdwe-exec.c */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>

#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif

#define ARG_LO(n) (offsetof(struct seccomp_data, args) + 8 * (n))
#define DENY SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: mdwe-exec PROGRAM [ARGS...]\n"); return 64; }
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 0, 5),
        /* mmap(addr, len, prot, ...): prot & (W|X) == W|X */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, DENY),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* mprotect(addr, len, prot) and pkey_mprotect(addr, len, prot, pkey): prot & X */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pkey_mprotect, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, DENY),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* shmat(id, addr, shmflg): shmflg & SHM_EXEC */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_shmat, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SHM_EXEC, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, DENY),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("mdwe-exec: PR_SET_NO_NEW_PRIVS"); return 71; }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) { perror("mdwe-exec: PR_SET_SECCOMP"); return 71; }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "mdwe-exec: %s: %s\n", argv[1], strerror(errno));
    return 127;
}
