"""Print the address families of a process's sockets (AF_UNIX AF_XDP ...).

Each socket is borrowed with pidfd_getfd(2) and asked for SO_DOMAIN: the
lab test checks them against the unit's RestrictAddressFamilies=.
Usage: socket_families.py PID (root)."""
import ctypes
import os
import socket
import sys

SYS_PIDFD_GETFD = 438  # x86-64 and arm64 alike (the unified syscall table)
SO_DOMAIN = 39
NAMES = {1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET", 44: "AF_XDP"}

libc = ctypes.CDLL(None, use_errno=True)
pid = int(sys.argv[1])
pidfd = os.pidfd_open(pid)
seen = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
            continue
    except OSError:
        continue  # closed meanwhile
    mine = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
    if mine < 0:
        sys.exit(f"pidfd_getfd({pid}, {fd}): {os.strerror(ctypes.get_errno())}")
    val, size = ctypes.c_int(0), ctypes.c_uint(4)
    if libc.getsockopt(mine, socket.SOL_SOCKET, SO_DOMAIN, ctypes.byref(val), ctypes.byref(size)):
        sys.exit(f"SO_DOMAIN of fd {fd}: {os.strerror(ctypes.get_errno())}")
    os.close(mine)
    seen.add(NAMES.get(val.value, f"family-{val.value}"))
print(" ".join(sorted(seen)))
