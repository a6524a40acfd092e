"""Run a command inside the parts of the unit's sandbox the kernel can give without systemd:
`python sandbox_exec.py [--mdwe] [--syscalls FILE] -- PROGRAM ARGS...`

--mdwe: write+execute memory refused (MemoryDenyWriteExecute=yes), via PR_SET_MDWE.
--syscalls FILE: only the syscalls named in FILE (one a line) are allowed, any other fails
with EPERM (SystemCallFilter= with SystemCallErrorNumber=EPERM), via libseccomp.
Exits 3 when the kernel or libseccomp cannot do it. Both are kept across execve.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import os
import sys

UNSUPPORTED = 3
PR_SET_NO_NEW_PRIVS = 38
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
SCMP_ACT_ALLOW = 0x7FFF0000


def scmp_act_errno(number: int) -> int:
    return 0x00050000 | (number & 0xFFFF)


def unsupported(why: str) -> None:
    print(f"sandbox_exec: {why}", file=sys.stderr)
    sys.exit(UNSUPPORTED)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mdwe", action="store_true")
    parser.add_argument("--syscalls")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:  # NoNewPrivileges=yes
        unsupported("PR_SET_NO_NEW_PRIVS failed")
    if args.mdwe and libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        unsupported("no PR_SET_MDWE (Linux < 6.3)")
    if args.syscalls:
        name = ctypes.util.find_library("seccomp")
        if name is None:
            unsupported("libseccomp not found")
        seccomp = ctypes.CDLL(name)
        seccomp.seccomp_init.restype = ctypes.c_void_p
        seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
        seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        seccomp.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int]
        seccomp.seccomp_rule_add.argtypes += [ctypes.c_uint]
        seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
        ctx = seccomp.seccomp_init(scmp_act_errno(errno.EPERM))
        with open(args.syscalls) as names:
            for syscall in names.read().split():
                number = seccomp.seccomp_syscall_resolve_name(syscall.encode())
                if number >= 0:  # names of other architectures do not resolve here
                    seccomp.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, number, 0)
        if seccomp.seccomp_load(ctx) != 0:
            unsupported("seccomp_load failed")
    os.execv(args.command[0], args.command)


if __name__ == "__main__":
    main()
