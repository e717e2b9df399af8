"""Worker processes that end with their parent.

A pool worker blocked on its task queue never notices that the process that started it was
SIGKILLed: before this, ``extract --workers 2`` killed by the OOM killer or ``kill -9`` left its
workers (about 1 GB each) running forever. :func:`die_with_parent`, called first thing in a
worker (a pool's ``initializer``), closes that hole two ways:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its parent
  dies (prctl(2));
- everywhere, a daemon thread that polls ``os.getppid()`` and exits when the worker has been
  re-parented (the parent is gone), for systems without prctl and for the window before it is set.

With the workers gone, multiprocessing's resource tracker sees its pipe close and exits too.

A spawned worker imports its initializer's module before it can run it, and that can take seconds
(numpy, torch). :func:`guarded_initializer` names the real initializer instead of pickling it, so the
guard is up before those imports: a parent killed while its pool starts does not leave workers
importing for seconds before they notice.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time

#: From <linux/prctl.h>.
PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent_pid: int | None = None, *, poll_seconds: float = 1.0) -> None:
    """Make this process exit when ``parent_pid`` (default: the current parent) dies.

    Parameters
    ----------
    parent_pid : int, optional
        The pid of the process that started this one, passed by the parent (``os.getpid()`` in its
        initializer arguments) so that a parent that died before this call is noticed too.
    poll_seconds : float
        How often the fallback watchdog checks the parent.

    Examples
    --------
    >>> from concurrent.futures import ProcessPoolExecutor  # doctest: +SKIP
    >>> ProcessPoolExecutor(2, initializer=die_with_parent, initargs=(os.getpid(),))  # doctest: +SKIP
    """
    parent_pid = parent_pid or os.getppid()
    set_parent_death_signal(signal.SIGKILL)
    # The parent may have died between our start and the prctl call: then no signal will ever come.
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid, poll_seconds), daemon=True,
                     name="sapphire-parent-watchdog").start()


def guarded_initializer(parent_pid: int, target: str | None = None, *args) -> None:
    """A pool ``initializer``: :func:`die_with_parent`, then ``target(*args)``.

    Parameters
    ----------
    parent_pid : int
        ``os.getpid()`` of the process creating the pool.
    target : str, optional
        The real initializer as ``"module:function"``, imported only once the guard is up.

    Examples
    --------
    >>> ProcessPoolExecutor(2, initializer=guarded_initializer,  # doctest: +SKIP
    ...                     initargs=(os.getpid(), "sapphire_core.extraction:_init_worker", 4))
    """
    die_with_parent(parent_pid)
    if target:
        module, _, name = target.partition(":")
        getattr(importlib.import_module(module), name)(*args)


def _watch(parent_pid: int, poll_seconds: float) -> None:
    while True:
        time.sleep(poll_seconds)
        if os.getppid() != parent_pid:
            # os._exit: no atexit handlers or pool shutdown that could wait on the dead parent.
            os._exit(1)
