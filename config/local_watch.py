"""``make run`` watches what it started: the web server, the Celery worker and the embedded
Postgres and Redis. Whatever stops is started again, with a line saying so; something that keeps
stopping (more than RESTARTS_PER_MINUTE times in a minute) stops everything, with a message
that says what and where to look.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

RESTARTS_PER_MINUTE = 5


class KeepsStopping(RuntimeError):
    """Something restarted too often: the message says what."""


@dataclass
class Restarts:
    """The restart budget of one watched thing."""

    name: str
    times: deque[float] = field(default_factory=deque)

    def allow(self, why: str) -> None:
        now = time.monotonic()
        while self.times and now - self.times[0] > 60:
            self.times.popleft()
        if len(self.times) >= RESTARTS_PER_MINUTE:
            raise KeepsStopping(
                f"The {self.name} stopped {len(self.times) + 1} times within a minute ({why}); "
                "stopping Snapshelf. Its output above (and the logs in the data folder) say why."
            )
        self.times.append(now)
        say(f"The {self.name} stopped ({why}); starting it again.")


@dataclass
class Child:
    """A child process (the web server, the worker), in its own session so that it and its own
    children (the worker's pool, beat) are signalled as one group."""

    name: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.restarts = Restarts(self.name)

    def start(self) -> subprocess.Popen[bytes]:
        self.process = subprocess.Popen(self.command, env=self.env, start_new_session=True)
        return self.process

    def check(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            self.restarts.allow(f"exit code {code}")
            # What is left of its group (a killed worker's pool processes) goes with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.start()


@dataclass
class Server:
    """An embedded server, checked with ``is_up`` and started again with ``start``."""

    name: str
    is_up: Callable[[], bool]
    start: Callable[[], object]

    def __post_init__(self) -> None:
        self.restarts = Restarts(self.name)

    def check(self) -> None:
        if self.is_up():
            return
        self.restarts.allow("it no longer answers")
        try:
            self.start()
        except Exception as exc:  # noqa: BLE001 - said, and tried again (a limited number of times)
            say(f"Could not start the {self.name} yet: {exc}")
            time.sleep(2)


def watch(servers: list[Server], children: list[Child], *, interval: float = 0.5) -> None:
    """Until interrupted (KeyboardInterrupt) or something keeps stopping (KeepsStopping).
    Servers first: a web server restarted before its database would only fail again."""
    while True:
        for server in servers:
            server.check()
        for child in children:
            child.check()
        time.sleep(interval)


def say(message: str) -> None:
    print(f"[make run] {message}", file=sys.stderr, flush=True)
