"""A real PostgreSQL (Debian's ``postgresql`` package) in a temporary directory.

``start_postgres()`` runs ``initdb`` and ``postgres`` on a free loopback port with the socket
directory inside the data's parent directory; as root both run as an unprivileged user
(``postgres``, else ``nobody``), since PostgreSQL refuses to run as root. ``stop()`` is a
fast shutdown (``pg_ctl stop -m fast``), a kill if that does not finish. A streaming standby
of a running server is made with ``start_standby()`` (``pg_basebackup -R``).

Used by the ``postgres`` fixtures of ``conftest.py``, by the PostgreSQL tests and by
``bench/bench_pg_driver.py``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from orphans import die_with_parent

SUPERUSER = "openkms"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


def postgres_bin() -> Path | None:
    """The directory of Debian's PostgreSQL server binaries (newest major), None if absent."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    which = shutil.which("postgres")
    return Path(which).parent if which else None


def postgres_installed() -> bool:
    """True when ``initdb`` and ``postgres`` are available."""
    bin_dir = postgres_bin()
    return bin_dir is not None and (bin_dir / "initdb").exists()


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and there is no 'postgres' or 'nobody' user")


def _command(
    user: pwd.struct_passwd | None, argv: list[str], *, pdeathsig: bool = False
) -> list[str]:
    if user is None:
        return argv
    # The death signal follows the thread that started the server: only from the main one.
    death = ["--pdeathsig=TERM"] if pdeathsig else []
    return [
        "setpriv",
        f"--reuid={user.pw_uid}",
        f"--regid={user.pw_gid}",
        "--clear-groups",
        *death,  # after the change of user, which clears a death signal set before it
        "--",
        *argv,
    ]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Postgres:
    """A PostgreSQL server of the tests: its data directory, port and process."""

    bin_dir: Path
    base: Path  # owned by the server's user: data, socket directory, log
    data: Path
    port: int
    user: pwd.struct_passwd | None
    settings: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    databases: set[str] = field(default_factory=set)

    @property
    def sockets(self) -> Path:
        """The Unix socket directory (inside ``base``)."""
        return self.base / "sockets"

    @property
    def log_file(self) -> Path:
        """Where the server logs."""
        return self.base / f"{self.data.name}.log"

    def dsn(self, database: str = "postgres", **params: str) -> str:
        """A ``postgresql://`` DSN for ``database`` over TCP on the loopback address."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )

    def tool(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one of the server's tools (psql, pg_ctl, ...) as the server's user."""
        argv = _command(self.user, [str(self.bin_dir / name), *args])
        return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=120)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql over the socket and return its unaligned, tuples-only output."""
        result = self.tool(
            "psql",
            "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", str(self.sockets), "-p", str(self.port), "-U", SUPERUSER,
            "-d", database, "-c", sql,
        )  # fmt: skip
        return result.stdout.strip()

    def create_schema(self, name: str, database: str = "postgres") -> str:
        """Create an empty schema and return a DSN whose ``search_path`` is that schema.

        Much cheaper than a database (no copy of a template): one per test.
        """
        self.psql(f'CREATE SCHEMA "{name}"', database)
        return self.dsn(database, search_path=name)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its DSN."""
        self.psql(f'CREATE DATABASE "{name}"')
        self.databases.add(name)
        return self.dsn(name)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return
        options = ["-c", f"port={self.port}", "-c", "listen_addresses=127.0.0.1"]
        options += ["-c", f"unix_socket_directories={self.sockets}"]
        for name, value in self.settings.items():
            options += ["-c", f"{name}={value}"]
        # A server started from another thread (asyncio.to_thread) would die with that thread.
        main = threading.current_thread() is threading.main_thread()
        postgres = [str(self.bin_dir / "postgres"), "-D", str(self.data), *options]
        argv = _command(self.user, postgres, pdeathsig=main)
        with self.log_file.open("ab") as log:
            # Into a file, never an unread pipe (it would fill up and block the server).
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=die_with_parent if main and self.user is None else None,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited while starting:\n{self.log()}")
            ready = self.tool(
                "pg_isready", "-q", "-h", str(self.sockets), "-p", str(self.port), "-t", "1",
                check=False,
            )  # fmt: skip
            if ready.returncode == 0:
                return
            time.sleep(0.05)  # pg_isready answers "starting up" at once: poll, bounded
        raise TimeoutError(f"postgres on port {self.port} not ready after {READY_TIMEOUT}s")

    def stop(self) -> None:
        """Fast shutdown (``pg_ctl stop -m fast``); kill the server if it does not stop."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self._signal_all(signal.SIGCONT, children_first=True)  # in case it was paused
        stopped = self.tool(
            "pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w",
            "-t", str(int(STOP_TIMEOUT)), check=False,
        )  # fmt: skip
        try:
            self.process.wait(STOP_TIMEOUT if stopped.returncode == 0 else 1)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def _children(self) -> list[int]:
        """The server's backends and workers (each leads its own process group: a signal to
        the postmaster's group reaches only the postmaster)."""
        assert self.process is not None
        parent = f"PPid:\t{self.process.pid}\n"
        children = []
        for status in Path("/proc").glob("[0-9]*/status"):
            with contextlib.suppress(OSError):
                if parent in status.read_text():
                    children.append(int(status.parent.name))
        return children

    def _signal_all(self, sig: int, *, children_first: bool) -> None:
        assert self.process is not None
        pids = self._children()
        order = [*pids, self.process.pid] if children_first else [self.process.pid, *pids]
        for pid in order:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def kill(self) -> None:
        """Crash the server: SIGKILL to the postmaster and every backend at once."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self._signal_all(signal.SIGKILL, children_first=False)
        self.process.wait()
        self.process = None

    def pause(self, paused: bool = True) -> None:
        """Freeze (SIGSTOP) or thaw (SIGCONT) every process of the server: a hung database."""
        if paused:  # the postmaster first: it forks no new backend meanwhile
            self._signal_all(signal.SIGSTOP, children_first=False)
        else:
            self._signal_all(signal.SIGCONT, children_first=True)

    def promote(self) -> None:
        """Promote a standby to a primary and wait until it takes writes."""
        self.tool("pg_ctl", "promote", "-D", str(self.data), "-w", "-t", "30")

    def log(self) -> str:
        """What the server logged so far."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def _make_base(user: pwd.struct_passwd | None) -> Path:
    # Not pytest's tmp_path: it lies under a directory only root may enter.
    base = Path(tempfile.mkdtemp(prefix="openkms-pg-"))
    if user is not None:
        os.chown(base, user.pw_uid, user.pw_gid)
    return base


def _mkdir_owned(path: Path, user: pwd.struct_passwd | None) -> None:
    path.mkdir(mode=0o700)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


DEFAULT_SETTINGS = {
    "fsync": "off",  # the tests' data is thrown away; bench and outage tests say "on"
    "full_page_writes": "off",
    "synchronous_commit": "on",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "wal_level": "replica",
    "max_wal_senders": "4",
    "log_min_messages": "warning",
}


def start_postgres(*, fsync: bool = False, settings: dict[str, str] | None = None) -> Postgres:
    """``initdb`` a new cluster in a temporary directory and start it on a free port."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise FileNotFoundError("postgres")
    user = _run_as()
    base = _make_base(user)
    server = Postgres(
        bin_dir=bin_dir,
        base=base,
        data=base / "data",
        port=_free_port(),
        user=user,
        settings={**DEFAULT_SETTINGS, "fsync": "on" if fsync else "off", **(settings or {})},
    )
    try:
        _mkdir_owned(server.sockets, user)
        server.tool(
            "initdb", "-D", str(server.data), "-U", SUPERUSER, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        _start_on_free_port(server)
    except BaseException:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
        raise
    return server


def _start_on_free_port(server: Postgres) -> None:
    for _ in range(5):
        try:
            server.start()
        except RuntimeError:
            if "could not bind" not in server.log() and "in use" not in server.log():
                raise
            server.port = _free_port()  # taken meanwhile by someone else: another port
            continue
        return
    raise RuntimeError(f"postgres did not start:\n{server.log()}")


def start_standby(primary: Postgres) -> Postgres:
    """A streaming standby of ``primary`` (``pg_basebackup -R``) in the same base directory."""
    standby = Postgres(
        bin_dir=primary.bin_dir,
        base=primary.base,
        data=primary.base / "standby",
        port=_free_port(),
        user=primary.user,
        settings=dict(primary.settings),
    )
    primary.tool(
        "pg_basebackup", "-D", str(standby.data), "-h", "127.0.0.1", "-p", str(primary.port),
        "-U", SUPERUSER, "-R", "-X", "stream", "-c", "fast",
    )  # fmt: skip
    _start_on_free_port(standby)
    return standby


def remove(server: Postgres) -> None:
    """Stop the server and delete its directory."""
    server.stop()
    shutil.rmtree(server.base, ignore_errors=True)
