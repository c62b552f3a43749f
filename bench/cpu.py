"""Where a measurement's CPU time went: the web workers, PostgreSQL, Redis,
wrk, nginx.

Every ratio of ``bench/run.py`` is a page's requests per second over the
floor's, on two cores that the web workers, PostgreSQL, Redis, wrk and nginx
share. When the cores are busy, a page's ratio is close to the floor's CPU
time per request over the page's: the CPU seconds each process spent during
a measurement, divided by the requests served, say which part to make
cheaper.

Read from ``/proc`` (Linux): user and system time of the gunicorn workers,
of every local process named ``postgres`` (the cluster's backends and
helpers; a database on another machine counts as nothing), of the
benchmark's redis-server and of nginx's processes; wrk's comes from
``RUSAGE_CHILDREN`` once it has exited. The kernel counts in ticks (10 ms),
so a measurement of a few seconds gives about two significant digits per
request.
"""

import os
import resource
from pathlib import Path

PARTS = ("web", "db", "redis", "wrk", "nginx")
LABELS = {
    "web": "gunicorn workers",
    "db": "PostgreSQL",
    "redis": "Redis",
    "wrk": "wrk",
    "nginx": "nginx",
}
# Parts that runs recorded before they were measured lack (their processes
# did not exist then): read as nothing.
ADDED_LATER = {"redis"}
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid):
    """(command name, parent pid, CPU seconds) of a process, or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The name is in parentheses and may itself contain spaces or ")".
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _processes():
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat:
                found[int(entry.name)] = stat
    return found


def _descendants(processes, root):
    """``root`` and every process below it."""
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, (_, parent, _) in processes.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


class Meter:
    """CPU seconds per part, read before and after a measurement.

    ``web_pids()`` names the gunicorn workers, ``nginx_pid()`` nginx's
    master and ``redis_pid()`` redis-server (or None); they are asked at
    each reading, since workers can be replaced.
    """

    def __init__(self, web_pids, nginx_pid, redis_pid=lambda: None):
        self._web_pids = web_pids
        self._nginx_pid = nginx_pid
        self._redis_pid = redis_pid

    def reading(self):
        """CPU seconds so far: ``({pid: (part, seconds)}, wrk's seconds)``."""
        processes = _processes()
        web = set(self._web_pids())
        nginx = set()
        master = self._nginx_pid()
        if master:
            nginx = _descendants(processes, master)
        redis = self._redis_pid()
        by_pid = {}
        for pid, (name, _, cpu) in processes.items():
            if pid in web:
                part = "web"
            elif pid in nginx:
                part = "nginx"
            elif pid == redis:
                part = "redis"
            elif name == "postgres":
                part = "db"
            else:
                continue
            by_pid[pid] = (part, cpu)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return by_pid, children.ru_utime + children.ru_stime

    @staticmethod
    def per_request(before, after, requests):
        """Milliseconds of CPU per request for each part, between two readings.

        Processes that ended in between are left out (their last ticks are
        lost with them), and so are those that started: their whole life
        would be counted.
        """
        (before_pids, before_wrk), (after_pids, after_wrk) = before, after
        if not requests:
            return None
        seconds = dict.fromkeys(PARTS, 0.0)
        for pid, (part, cpu) in after_pids.items():
            if pid in before_pids:
                seconds[part] += cpu - before_pids[pid][1]
        seconds["wrk"] = after_wrk - before_wrk
        return {part: 1000 * value / requests for part, value in seconds.items()}
