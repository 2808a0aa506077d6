"""A cluster that speaks mutual TLS (``weft up --tls``), reached from
Python with the CA and client certificate ``weft up`` left on this
machine, or with ``WEFT_TLS_*``. Each client runs in a process of its own:
the TLS settings a process finds are that process's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .cluster import Process
from .conftest import guest

CLIENT = """
import weft
weft.init({address!r})
kit = weft.deploy({kit!r}, name="kit")
print(weft.get(kit.add.remote(2, 3)))
"""


def run_client(address: str, env: dict) -> subprocess.CompletedProcess:
    code = CLIENT.format(address=address, kit=guest("weft_testkit"))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )


def test_a_tls_cluster_is_reached_from_python(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shm = tempfile.mkdtemp(prefix="weft-py-tls-", dir="/dev/shm")
    up = Process(
        ["up", "--tls", "--port", "0", "--data-dir", str(data), "--store-dir", shm],
        str(tmp_path / "up.log"),
        "weft up: listening on ",
    )
    try:
        # The files `weft up` left for this address, found without flags.
        done = run_client(up.address, dict(os.environ))
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "5"

        # Explicit settings: the CA and the client certificate by env.
        tls = data / "tls"
        env = {
            **os.environ,
            "WEFT_TLS_CA": str(tls / "ca.pem"),
            "WEFT_TLS_CERT": str(tls / "client.pem"),
            "WEFT_TLS_KEY": str(tls / "client-key.pem"),
        }
        done = run_client(up.address, env)
        assert done.returncode == 0, done.stderr

        # The CA alone: the cluster wants a certificate, and says so.
        env = {**os.environ, "WEFT_TLS_CA": str(tls / "ca.pem")}
        done = run_client(up.address, env)
        assert done.returncode != 0
        assert "WeftConnectionError" in done.stderr, done.stderr
        assert "certificate" in done.stderr, done.stderr
    finally:
        up.kill()
        shutil.rmtree(shm, ignore_errors=True)
