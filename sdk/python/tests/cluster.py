"""A cluster of real processes for the fault tests: ``n`` controller
replicas (``weft controller``) and worker hosts (``weft host``) on
loopback ports, each with its own data directory; replicas and hosts can be
killed with SIGKILL."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from typing import Dict, List, Optional

from .waiting import eventually


class Process:
    """A ``weft`` process; ``address`` is read from its first line."""

    def __init__(self, args: List[str], log: str, ready: str) -> None:
        self.log = log
        self.child = subprocess.Popen(
            [os.environ["WEFT_BIN"], *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=open(log, "w"),
            text=True,
        )
        assert self.child.stdout is not None
        for line in self.child.stdout:
            if line.startswith(ready):
                # `weft up: listening on ADDR ...`, `weft host: ID on ADDR ...`
                words = line[len(ready) :].split()
                self.address = words[2] if ready == "weft host: " else words[0]
                break
        else:
            raise RuntimeError(f"weft {' '.join(args)} did not start: {open(log).read()}")
        threading.Thread(target=lambda: [None for _ in self.child.stdout or []], daemon=True).start()

    def kill(self) -> None:
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()


class Group:
    """``replicas`` controllers and the hosts started with ``start_host``."""

    def __init__(self, replicas: int) -> None:
        """Replicas bind port 0: replica 1 forms the group alone
        (``--bootstrap``) and the others join it with ``weft cluster
        add-member``, so no port is picked before its process binds it."""
        self.dir = tempfile.mkdtemp(prefix="weft-py-group-")
        self.shm = tempfile.mkdtemp(prefix="weft-py-group-", dir="/dev/shm")
        self.replicas: Dict[int, Process] = {}
        self.hosts: Dict[str, Process] = {}
        for i in range(1, replicas + 1):
            data = os.path.join(self.dir, f"node{i}")
            os.makedirs(data)
            self.replicas[i] = Process(
                ["controller", "--id", str(i), "--port", "0", "--data-dir", data,
                 "--host-timeout", "2", *(["--bootstrap"] if i == 1 else [])],
                os.path.join(data, "log"),
                "weft up: listening on ",
            )
        self.members = [p.address for p in self.replicas.values()]
        first = self.members[0]
        eventually(lambda: self._leader_seen_by(first) == "1", 20, "replica 1 leading its group")
        for i in range(2, replicas + 1):
            self._weft_at(first, "cluster", "add-member", f"{i}={self.members[i - 1]}")

    @property
    def addresses(self) -> str:
        return ",".join(self.members)

    def _weft_at(self, address: str, *args: str) -> str:
        out = subprocess.run(
            [os.environ["WEFT_BIN"], *args, "--address", address],
            capture_output=True, text=True, timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"weft {' '.join(args)}: {out.stderr}")
        return out.stdout

    def _leader_seen_by(self, address: str) -> str:
        """The leader replica ``address`` names in its status, or "?"."""
        try:
            out = subprocess.run(
                [os.environ["WEFT_BIN"], "status", "--address", address],
                capture_output=True, text=True, timeout=10,
            ).stdout
            line = next(l for l in out.splitlines() if l.strip().startswith("leader:"))
            return line.split(":", 1)[1].strip()
        except (StopIteration, subprocess.TimeoutExpired):
            return "?"

    def weft(self, *args: str) -> str:
        return self._weft_at(self.addresses, *args)

    def leader(self, timeout: float = 20) -> int:
        """The replica the running ones agree leads."""
        def agreed() -> Optional[int]:
            seen = {self._leader_seen_by(self.members[i - 1]) for i in self.replicas}
            if len(seen) == 1 and (only := seen.pop()).isdigit() and int(only) in self.replicas:
                return int(only)
            return None

        return eventually(agreed, timeout, "an agreed leader")

    def start_host(self, id: str, cpus: int = 2) -> None:
        data = os.path.join(self.dir, f"host-{id}")
        os.makedirs(data)
        self.hosts[id] = Process(
            ["host", "--controller", self.addresses, "--port", "0", "--id", id,
             "--cpus", str(cpus), "--heartbeat-ms", "200", "--data-dir", data,
             "--store-dir", os.path.join(self.shm, id)],
            os.path.join(data, "log"),
            "weft host: ",
        )
        eventually(
            lambda: any(l.split()[:1] == [id] and "alive" in l for l in self.weft("list", "nodes").splitlines()),
            30,
            f"host {id} registering",
        )

    def kill(self, replica: int) -> None:
        self.replicas.pop(replica).kill()

    def kill_host(self, id: str) -> None:
        self.hosts.pop(id).kill()

    def stop(self) -> None:
        for p in [*self.hosts.values(), *self.replicas.values()]:
            p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.shm, ignore_errors=True)

    def logs(self) -> str:
        out = []
        for name, p in [*self.replicas.items(), *self.hosts.items()]:
            out.append(f"=== {name}\n{open(p.log).read()[-4000:]}")
        return "\n".join(out)


def group_with_hosts(replicas: int, hosts: List[str]) -> Group:
    group = Group(replicas)
    try:
        group.leader()
        for h in hosts:
            group.start_host(h)
    except BaseException:
        group.stop()
        raise
    return group

