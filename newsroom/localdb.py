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
    host = quote(str(socket_dir()), safe="")
    return f"postgres://{DB_USER}@{host}/{DB_NAME}"


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


def _prepare_folders(user):
    for folder in (DATA_DIR.parent, socket_dir()):
        folder.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(folder, user, user)
            folder.chmod(0o700)
    if user:
        # The server user must be able to walk down to its data folder; a
        # checkout in a private folder (mktemp -d) would otherwise stop it.
        # Only the search bit is added, never read.
        for parent in [*DATA_DIR.parent.parents, socket_dir().parent]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)


def _is_running(bindir, user):
    if not (DATA_DIR / "PG_VERSION").exists():
        return False
    result = _run(
        [bindir / "pg_ctl", "-D", DATA_DIR, "status"], user, capture_output=True
    )
    return result.returncode == 0


def start():
    bindir = find_bindir()
    user = _server_user()
    _prepare_folders(user)
    if _is_running(bindir, user):
        _ensure_database(bindir, user)
        return "running"
    if not (DATA_DIR / "PG_VERSION").exists():
        result = _run(
            [
                bindir / "initdb",
                "-D",
                DATA_DIR,
                "-U",
                DB_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            user,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise LocalDBError(f"initdb failed:\n{result.stdout}{result.stderr}")
    options = (
        f"-c listen_addresses='' -k {socket_dir()} "
        # A development and test cluster: durability is not worth the time.
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c max_connections=200"
    )
    result = _run(
        [
            bindir / "pg_ctl",
            "-D",
            DATA_DIR,
            "-l",
            DATA_DIR / "server.log",
            "-w",
            "-o",
            options,
            "start",
        ],
        user,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        log = DATA_DIR / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise LocalDBError(f"PostgreSQL did not start:\n{result.stderr}\n{tail}")
    _ensure_database(bindir, user)
    return "started"


def _ensure_database(bindir, user):
    psql = bindir / "psql"
    if not psql.exists():
        psql = shutil.which("psql") or psql
    query = f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"  # noqa: S608
    base = [psql, "-h", socket_dir(), "-U", DB_USER, "-d", "postgres", "-tAq"]
    found = _run([*base, "-c", query], None, capture_output=True, text=True)
    if found.returncode != 0:
        raise LocalDBError(f"Cannot reach the local PostgreSQL: {found.stderr}")
    if found.stdout.strip() != "1":
        _run([*base, "-c", f'CREATE DATABASE "{DB_NAME}"'], None, check=True)


def stop():
    if not (DATA_DIR / "PG_VERSION").exists():
        return "absent"
    bindir = find_bindir()
    user = _server_user()
    if not _is_running(bindir, user):
        return "stopped"
    _run([bindir / "pg_ctl", "-D", DATA_DIR, "-m", "fast", "-w", "stop"], user)
    return "stopped"


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
            print("running" if _is_running(find_bindir(), _server_user()) else "down")
        else:
            print(f"usage: {argv[0]} start|stop|status|url", file=sys.stderr)
            return 2
    except LocalDBError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
