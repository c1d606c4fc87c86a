"""Keep a truncated metrics file from killing the process that has it mapped.

When someone truncates a file that a process has memory-mapped, the next touch of a page
past the new end raises SIGBUS, and Python cannot catch that: the process dies. A worker
touches its file on every request, so one careless ``truncate`` or ``: > file`` would take
a worker down mid-request, and a scrape of the file would take the scraper down too.

``guard`` registers a mapping. On SIGBUS inside a guarded mapping, the handler replaces the
faulting page with a private zero page and lets the access go on. The values in that page
are lost, which they already were; the file's owner notices the truncation on its next
maintenance pass and republishes its series into a fresh file. A SIGBUS anywhere else gets
the previous handler (or the default action) as before.

This needs ``sigaction`` with ``SA_SIGINFO``, so it is installed on 64-bit Linux only;
elsewhere ``guard`` does nothing and a truncation stays fatal.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import signal
import sys

logger = logging.getLogger("folio_metrics")

_SA_SIGINFO = 4
_BUS_ADRERR = 2  # si_code: an address with nothing behind it, e.g. past a file's end
_PROT_READ_WRITE = 0x1 | 0x2
_MAP_PRIVATE_FIXED_ANONYMOUS = 0x02 | 0x10 | 0x20
_SUPPORTED = sys.platform.startswith("linux") and ctypes.sizeof(ctypes.c_void_p) == 8


class _SigInfo(ctypes.Structure):
    # The leading fields of Linux's siginfo_t on 64-bit platforms: si_addr follows padding.
    _fields_ = [
        ("si_signo", ctypes.c_int),
        ("si_errno", ctypes.c_int),
        ("si_code", ctypes.c_int),
        ("_padding", ctypes.c_int),
        ("si_addr", ctypes.c_void_p),
    ]


_Handler = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(_SigInfo), ctypes.c_void_p)


class _SigAction(ctypes.Structure):
    # glibc's struct sigaction: handler, a 1024-bit mask, flags, restorer.
    _fields_ = [
        ("sa_sigaction", ctypes.c_void_p),
        ("sa_mask", ctypes.c_ulong * 16),
        ("sa_flags", ctypes.c_int),
        ("sa_restorer", ctypes.c_void_p),
    ]


class _Guard:
    def __init__(self) -> None:
        self.ranges: dict[int, int] = {}  # start address -> end address
        self._libc: ctypes.CDLL | None = None
        self._handler = _Handler(self._on_sigbus)  # kept alive: the kernel calls it
        self._previous = _SigAction()

    def install(self) -> None:
        if self._libc is not None or not _SUPPORTED:
            return
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_long,
        ]
        action = _SigAction()
        action.sa_sigaction = ctypes.cast(self._handler, ctypes.c_void_p)
        action.sa_flags = _SA_SIGINFO
        if libc.sigaction(signal.SIGBUS, ctypes.byref(action), ctypes.byref(self._previous)):
            logger.warning("cannot guard metrics files against truncation: sigaction failed")
            return
        self._libc = libc

    def _on_sigbus(self, _signum: int, info: ctypes._Pointer[_SigInfo], _context: int) -> None:
        # Runs inside the signal handler, on the thread whose access faulted: only a few
        # plain operations and one system call, nothing that could take a lock.
        libc = self._libc
        assert libc is not None
        fault = info.contents
        address = fault.si_addr or 0
        if fault.si_code == _BUS_ADRERR:
            for start, end in self.ranges.items():
                if start <= address < end:
                    page = address - address % mmap.PAGESIZE
                    flags = _MAP_PRIVATE_FIXED_ANONYMOUS
                    if libc.mmap(page, mmap.PAGESIZE, _PROT_READ_WRITE, flags, -1, 0) == page:
                        return
                    break  # no page to put there: better to die than to fault forever
        # Not ours, or beyond repair: the previous handler (or the default action) takes
        # the access when it faults again.
        libc.sigaction(signal.SIGBUS, ctypes.byref(self._previous), None)


_guard = _Guard()


def guard(mapping: mmap.mmap) -> int:
    """Protect ``mapping`` from truncation of its file; returns its start address."""
    _guard.install()
    cell = ctypes.c_char.from_buffer(mapping)
    start = ctypes.addressof(cell)
    del cell  # a live export would keep the mapping from ever being closed
    _guard.ranges[start] = start + len(mapping)
    return start


def unguard(start: int) -> None:
    """Stop protecting the mapping ``guard`` returned ``start`` for, before closing it."""
    _guard.ranges.pop(start, None)
