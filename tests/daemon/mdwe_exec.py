"""Run a command with write+execute memory refused, as the unit's MemoryDenyWriteExecute=yes
does: `python mdwe_exec.py PROGRAM ARGS...`. Exits 3 if the kernel cannot (Linux < 6.3)."""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
UNSUPPORTED = 3

if __name__ == "__main__":
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        sys.exit(UNSUPPORTED)
    os.execv(sys.argv[1], sys.argv[1:])  # kept across execve, like systemd's own filter
