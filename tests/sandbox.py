"""Run a command under the memory and system-call rules a systemd unit would impose.

    python tests/sandbox.py MODE[,MODE...] PROGRAM [ARGS...]

Modes (applied to this process, then kept across `exec` of PROGRAM):
  mdwe-prctl    the kernel's own W^X rule (PR_SET_MDWE, Linux 6.3+): what systemd 254+ sets for
                MemoryDenyWriteExecute=yes.
  mdwe-seccomp  systemd 252's MemoryDenyWriteExecute=yes as a seccomp filter (Debian 12): EPERM
                for mmap with PROT_WRITE|PROT_EXEC, mprotect/pkey_mprotect adding PROT_EXEC, and
                shmat with SHM_EXEC.
  no-resources  EPERM for the @resources system calls (setpriority, sched_setaffinity, mbind, ...),
                as `SystemCallFilter=~@resources` with `SystemCallErrorNumber=EPERM`.
seccomp modes need x86-64 (the system call numbers below are that ABI's).
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_SET_MDWE = 65
PR_GET_MDWE = 66
PR_MDWE_REFUSE_EXEC_GAIN = 1
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
AUDIT_ARCH_X86_64 = 0xC000003E
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
# x86-64 system call numbers
MMAP, MPROTECT, SHMAT, PKEY_MPROTECT = 9, 10, 30, 329
RESOURCES = {  # systemd-analyze syscall-filter @resources (nice does not exist on x86-64)
    "ioprio_set": 251, "mbind": 237, "migrate_pages": 256, "move_pages": 279,
    "sched_setaffinity": 203, "sched_setattr": 314, "sched_setparam": 142,
    "sched_setscheduler": 144, "set_mempolicy": 238, "set_mempolicy_home_node": 450,
    "setpriority": 141, "setrlimit": 160,
}  # fmt: skip

LD_ARCH, LD_NR, LD_ARG2 = (0x20, 0, 0, 4), (0x20, 0, 0, 0), (0x20, 0, 0, 16 + 2 * 8)
ALLOW, DENY = (0x06, 0, 0, SECCOMP_RET_ALLOW), (0x06, 0, 0, SECCOMP_RET_ERRNO | EPERM)

_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, arg: int = 0, arg3: int | ctypes.c_void_p = 0) -> int:
    third = arg3 if isinstance(arg3, ctypes.c_void_p) else ctypes.c_ulong(arg3)
    zero = ctypes.c_ulong(0)
    return int(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), third, zero, zero))


def mdwe_prctl_supported() -> bool:
    """Whether this kernel has PR_SET_MDWE (asking does not set it)."""
    return _prctl(PR_GET_MDWE) >= 0


def seccomp_supported() -> bool:
    """Whether the x86-64 filters below apply here."""
    return sys.platform == "linux" and platform.machine() == "x86_64"


def _jeq(k: int, true: int, false: int = 0) -> tuple[int, int, int, int]:
    return (0x15, true, false, k)


def _and(k: int) -> tuple[int, int, int, int]:
    return (0x54, 0, 0, k)


def program(mdwe: bool, resources: bool) -> list[tuple[int, int, int, int]]:
    """A classic-BPF seccomp program for the chosen rules."""
    tail: list[tuple[int, int, int, int]] = []
    checks: list[tuple[int, str]] = []
    if mdwe:
        checks += [(MMAP, "mmap"), (MPROTECT, "mprotect"), (PKEY_MPROTECT, "mprotect"),
                   (SHMAT, "shmat")]  # fmt: skip
    if resources:
        checks += [(nr, "deny") for nr in RESOURCES.values()]
    blocks = {
        "mmap": [LD_ARG2, _and(PROT_WRITE | PROT_EXEC), _jeq(PROT_WRITE | PROT_EXEC, 0, 1), DENY,
                 ALLOW],
        "mprotect": [LD_ARG2, _and(PROT_EXEC), _jeq(PROT_EXEC, 0, 1), DENY, ALLOW],
        "shmat": [LD_ARG2, _and(SHM_EXEC), _jeq(SHM_EXEC, 0, 1), DENY, ALLOW],
        "deny": [DENY],
    }  # fmt: skip
    offsets: dict[str, int] = {}
    for name, block in blocks.items():
        if any(kind == name for _, kind in checks):
            offsets[name] = len(tail)
            tail += block
    head = [LD_ARCH, _jeq(AUDIT_ARCH_X86_64, 1), ALLOW, LD_NR]
    dispatch_len = len(checks) + 1  # one jump per check, then ALLOW
    dispatch = []
    for i, (nr, kind) in enumerate(checks):
        # jump from instruction i (relative: skip the rest of the dispatch, then to the block)
        dispatch.append(_jeq(nr, dispatch_len - i - 1 + offsets[kind]))
    return [*head, *dispatch, ALLOW, *tail]


def install_seccomp(mdwe: bool, resources: bool) -> None:
    """Install the filter on this process (inherited by `exec`)."""
    instructions = program(mdwe, resources)
    raw = b"".join(struct.pack("=HBBI", *ins) for ins in instructions)
    buffer = ctypes.create_string_buffer(raw)
    fprog = struct.pack("=HxxxxxxQ", len(instructions), ctypes.addressof(buffer))
    fprog_buffer = ctypes.create_string_buffer(fprog)
    if _prctl(PR_SET_NO_NEW_PRIVS, 1) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    address = ctypes.c_void_p(ctypes.addressof(fprog_buffer))
    if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, address) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


def apply(modes: list[str]) -> None:
    """Apply the named modes to this process."""
    unknown = set(modes) - {"mdwe-prctl", "mdwe-seccomp", "no-resources"}
    if unknown:
        raise SystemExit(f"sandbox: unknown mode(s) {sorted(unknown)}")
    if "mdwe-prctl" in modes and _prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_MDWE")
    mdwe, resources = "mdwe-seccomp" in modes, "no-resources" in modes
    if mdwe or resources:
        install_seccomp(mdwe, resources)


if __name__ == "__main__":
    apply(sys.argv[1].split(","))
    os.execvp(sys.argv[2], sys.argv[2:])
