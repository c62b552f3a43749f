"""A project-local PostgreSQL cluster for development and tests.

Run with the standard library only (the make targets call it before anything
else): ``python -m newsroom.localdb start|stop|status|url``.

The cluster lives in ``.local/pg`` inside the checkout (git-ignored) and listens
on a unix socket only, so two checkouts or a parallel test run never fight over
a TCP port. It is created with PostgreSQL's own server binaries found on the
machine. As root, the server runs as the unprivileged ``postgres`` user, because
``initdb`` and ``postgres`` refuse to run as root.

``start`` prints ``started`` when it started the server and ``running`` when it
was already up, so a caller (``make test``) can stop only what it started.
"""

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = BASE_DIR / ".local"
DATA_DIR = LOCAL_DIR / "pg" / "data"
DB_NAME = "newsroom"
DB_USER = "postgres"
# The socket file name is ".s.PGSQL.5432"; unix socket paths are limited to
# about 107 bytes, so a deep checkout falls back to a short folder in /tmp.
MAX_SOCKET_PATH = 100

INSTALL_HELP = """\
PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found, and
DATABASE_URL is not set.

Either install PostgreSQL 15 or newer:
  Debian/Ubuntu:  sudo apt-get install postgresql
  macOS:          brew install postgresql@17
or point Newsroom at a server you already have:
  export DATABASE_URL=postgres://user:password@host:5432/newsroom
"""


class LocalDBError(Exception):
    pass


def socket_dir():
    preferred = LOCAL_DIR / "pg" / "run"
    if len(str(preferred)) + len("/.s.PGSQL.5432") <= MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:12]
    return Path("/tmp") / f"newsroom-pg-{digest}"


def database_url():
    return local_cluster().url()


def _version_key(path):
    try:
        return int(path.name)
    except ValueError:
        return -1


def find_bindir():
    """Where initdb and pg_ctl live: PATH, pg_config, then versioned folders."""
    candidates = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    for root in (Path("/usr/lib/postgresql"), Path("/usr/local/opt")):
        if root.is_dir():
            folders = [p for p in root.iterdir() if p.is_dir()]
            for folder in sorted(folders, key=_version_key, reverse=True):
                candidates.append(folder / "bin")
    for macos in sorted(Path("/opt/homebrew/opt").glob("postgresql*"), reverse=True):
        candidates.append(macos / "bin")
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise LocalDBError(INSTALL_HELP)


def _server_user():
    """The OS user the server runs as: ourselves, or 'postgres' when root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise LocalDBError(
            "Running as root, but there is no 'postgres' OS user to run the "
            "server as. Install PostgreSQL's server package, or run as an "
            "ordinary user, or set DATABASE_URL."
        ) from None
    return "postgres"


def _run(cmd, user, **kwargs):
    if user:
        cmd = ["runuser", "-u", user, "--", *map(str, cmd)]
    kwargs.setdefault("check", False)
    return subprocess.run([str(c) for c in cmd], **kwargs)


def _shared_buffers():
    """A quarter of the memory (PostgreSQL's advice for a database server),
    between 128 MB and 2 GB: enough for the benchmark's 1 GB database to
    stay in PostgreSQL's own memory. The memory is taken as pages are read,
    so a test run, whose database is small, uses little of it."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return "128MB"
    megabytes = min(max(memory // 4 // 2**20, 128), 2048)
    return f"{megabytes}MB"


# A development and test cluster: durability is not worth the time.
DEV_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": _shared_buffers(),
}

_UNSET = object()


class Cluster:
    """One PostgreSQL cluster: a data folder served on a unix socket folder.

    ``settings`` are the server's ``-c name=value`` options. The binaries
    (``bindir``) and the OS user the server runs as (``user``: None for
    ourselves, 'postgres' when root) are found on first use unless given.
    The project's own cluster is ``local_cluster()``; tests make throwaway
    ones (tests/pgcluster.py).
    """

    def __init__(
        self, data_dir, socket_dir, *, settings=None, bindir=None, user=_UNSET
    ):
        self.data_dir = Path(data_dir)
        self.socket_dir = Path(socket_dir)
        self.settings = dict(DEV_SETTINGS if settings is None else settings)
        self._bindir = bindir
        self._user = user

    @property
    def bindir(self):
        if self._bindir is None:
            self._bindir = find_bindir()
        return self._bindir

    @property
    def user(self):
        if self._user is _UNSET:
            self._user = _server_user()
        return self._user

    @property
    def log_file(self):
        # Inside the data folder: the server user may not write elsewhere.
        return self.data_dir / "server.log"

    def url(self, dbname=DB_NAME, user=DB_USER):
        host = quote(str(self.socket_dir), safe="")
        return f"postgres://{user}@{host}/{dbname}"

    def exists(self):
        return (self.data_dir / "PG_VERSION").exists()

    def prepare_folders(self):
        user = self.user
        for folder in (self.data_dir.parent, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
            if user:
                shutil.chown(folder, user, user)
                folder.chmod(0o700)
        if user:
            # The server user must be able to walk down to its data folder; a
            # checkout in a private folder (mktemp -d) would otherwise stop it.
            # Only the search bit is added, never read.
            for parent in [*self.data_dir.parent.parents, self.socket_dir.parent]:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)

    def is_running(self):
        bindir, user = self.bindir, self.user
        if not self.exists():
            return False
        result = _run(
            [bindir / "pg_ctl", "-D", self.data_dir, "status"],
            user,
            capture_output=True,
        )
        return result.returncode == 0

    def initdb(self):
        result = _run(
            [
                self.bindir / "initdb",
                "-D",
                self.data_dir,
                "-U",
                DB_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            self.user,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise LocalDBError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def server_options(self):
        options = [f"-c listen_addresses='' -k {self.socket_dir}"]
        options += [f"-c {name}={value}" for name, value in self.settings.items()]
        return " ".join(options)

    def start(self):
        """Create the cluster if needed and start it: 'started' or 'running'."""
        self.prepare_folders()
        if self.is_running():
            return "running"
        if not self.exists():
            self.initdb()
        result = _run(
            [
                self.bindir / "pg_ctl",
                "-D",
                self.data_dir,
                "-l",
                self.log_file,
                "-w",
                "-o",
                self.server_options(),
                "start",
            ],
            self.user,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise LocalDBError(
                f"PostgreSQL did not start:\n{result.stderr}\n{self.log_tail()}"
            )
        return "started"

    def stop(self, mode="fast", quiet=False):
        """Stop the server: 'fast' rolls back sessions and shuts down cleanly;
        'immediate' is like a crash, recovered from the WAL at the next start.
        """
        if not self.exists():
            return "absent"
        if not self.is_running():
            return "stopped"
        _run(
            [self.bindir / "pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "stop"],
            self.user,
            capture_output=quiet,
        )
        return "stopped"

    def log_tail(self, size=2000):
        log = self.log_file
        return log.read_text(errors="replace")[-size:] if log.exists() else ""

    def client(self, name):
        """A client program (psql, pg_dump, ...): the server's own, else PATH."""
        program = self.bindir / name
        if not program.exists():
            program = shutil.which(name) or program
        return program

    def psql(self, sql, dbname="postgres", **kwargs):
        """Run SQL as the superuser; clients need no other OS user."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        base = [self.client("psql"), "-h", self.socket_dir, "-U", DB_USER]
        return _run([*base, "-d", dbname, "-tAq", "-c", sql], None, **kwargs)

    def ensure_database(self, name=DB_NAME):
        query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"  # noqa: S608
        found = self.psql(query)
        if found.returncode != 0:
            raise LocalDBError(f"Cannot reach the local PostgreSQL: {found.stderr}")
        if found.stdout.strip() != "1":
            self.psql(f'CREATE DATABASE "{name}"', capture_output=False, check=True)


def local_cluster():
    """The project's own cluster in .local/pg."""
    return Cluster(DATA_DIR, socket_dir())


def start():
    cluster = local_cluster()
    state = cluster.start()
    cluster.ensure_database(DB_NAME)
    return state


def stop():
    return local_cluster().stop()


def main(argv):
    command = argv[1] if len(argv) > 1 else "status"
    try:
        if command == "start":
            print(start())
        elif command == "stop":
            print(stop())
        elif command == "url":
            print(database_url())
        elif command == "status":
            print("running" if local_cluster().is_running() else "down")
        else:
            print(f"usage: {argv[0]} start|stop|status|url", file=sys.stderr)
            return 2
    except LocalDBError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
