"""A local single-node cluster for ``weft.init()``: the ``weft up`` binary,
started on a free port with its own data and store directories, stopped
when the interpreter exits or on ``weft.shutdown()``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from typing import List, Optional

READY = "weft up: listening on "


def find_binary() -> str:
    """The ``weft`` binary: ``$WEFT_BIN``, else ``weft`` on ``PATH``."""
    explicit = os.environ.get("WEFT_BIN")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise FileNotFoundError(f"WEFT_BIN={explicit} is not an executable")
        return explicit
    found = shutil.which("weft")
    if found:
        return found
    raise FileNotFoundError(
        "weft.init() without an address starts a local cluster with the `weft` "
        "binary, which is not on PATH: install it (cargo install --path cli), "
        "set WEFT_BIN to it, or pass an address (or set WEFT_ADDRESS)"
    )


class LocalCluster:
    """A ``weft up`` process and the directories it owns."""

    def __init__(self, binary: Optional[str] = None, cpus: Optional[float] = None) -> None:
        self.binary = binary or find_binary()
        self.data_dir = tempfile.mkdtemp(prefix="weft-py-")
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        self.store_dir = tempfile.mkdtemp(prefix="weft-py-store-", dir=shm)
        args: List[str] = [
            self.binary,
            "up",
            "--port",
            "0",
            # A gateway on a free port, as Ray Serve's proxy: Serve's
            # routes and handles reach replicas through it.
            "--http-port",
            "0",
            "--data-dir",
            self.data_dir,
            "--store-dir",
            os.path.join(self.store_dir, "store"),
        ]
        if cpus is not None:
            args += ["--cpus", str(cpus)]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.address = self._wait_ready()
        # Keep draining its output so it never blocks on a full pipe.
        for stream in (self.process.stdout, self.process.stderr):
            threading.Thread(target=_drain, args=(stream,), daemon=True).start()

    def _wait_ready(self) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(READY):
                return line[len(READY) :].split()[0]
        self.process.wait()
        err = self.process.stderr.read() if self.process.stderr else ""
        self._remove_dirs()
        raise RuntimeError(
            f"the local cluster ({self.binary} up) exited with status "
            f"{self.process.returncode} before it was ready: {err.strip()[-2000:]}"
        )

    def stop(self) -> None:
        """Stops it (SIGTERM, then SIGKILL after 10 s) and removes its dirs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._remove_dirs()

    def _remove_dirs(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.store_dir, ignore_errors=True)


def _drain(stream) -> None:  # type: ignore[no-untyped-def]
    try:
        for _ in stream:
            pass
    except (OSError, ValueError):
        pass
