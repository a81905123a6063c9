"""A real Ray cluster on the loopback address for tests: a head and worker nodes, each a
``ray start --block`` process group owned by the test (so a node can be killed, as if its
machine disappeared, without ``ray stop`` touching any other Ray on this machine)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
FAST_HEALTH_CHECKS = {"RAY_health_check_initial_delay_ms": "0", "RAY_health_check_period_ms": "500",
                      "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "4"}
"""A lost node is noticed in ~2 s instead of ~30 s."""


OBJECT_STORE_BYTES = 200 * 2**20
"""Result files are kilobytes: a small object store keeps the test cluster light."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalCluster:
    temp_dir: Path
    port: int = field(default_factory=free_port)
    nodes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _env(self) -> dict:
        return {**os.environ, **FAST_HEALTH_CHECKS, "RAY_USAGE_STATS_ENABLED": "0"}

    def _start(self, name: str, argv: list[str], slot: bool, cpus: int) -> None:
        resources = json.dumps({"spark_bench_slot": 1} if slot else {})
        log = open(self.temp_dir / f"{name}.log", "w")
        self.nodes[name] = subprocess.Popen(
            [RAY, "start", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}",
             "--num-gpus=0", f"--resources={resources}", "--disable-usage-stats",
             f"--object-store-memory={OBJECT_STORE_BYTES}", *argv],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=self._env())

    def start_head(self, slot: bool = False, cpus: int = 1) -> None:
        self._start("head", ["--head", f"--port={self.port}", "--include-dashboard=false",
                             f"--temp-dir={self.temp_dir / 'ray'}"], slot, cpus)

    def add_node(self, name: str, slot: bool = True, cpus: int = 1) -> None:
        self._start(name, [f"--address={self.address}"], slot, cpus)

    def wait_for(self, slots: int, timeout: float = 60.0) -> None:
        """Until the cluster shows ``slots`` live nodes offering a spark_bench_slot."""
        code = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                "print(sum(1 for n in ray.nodes() if n['Alive'] "
                "and n['Resources'].get('spark_bench_slot', 0) >= 1))")
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            for name, proc in self.nodes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"ray node {name} exited: "
                                       + (self.temp_dir / f"{name}.log").read_text()[-2000:])
            out = subprocess.run([sys.executable, "-c", code, self.address], capture_output=True,
                                 text=True, timeout=60, env=self._env())
            seen = out.stdout.strip()
            if seen == str(slots):
                return
            time.sleep(0.5)
        raise TimeoutError(f"the cluster shows {seen or '?'} slot node(s), expected {slots}")

    def kill_node(self, name: str) -> None:
        """SIGKILL every process of a node (its session: raylet, object store, Ray workers,
        whatever they started), as if its machine disappeared."""
        proc = self.nodes.pop(name)
        kill_session(proc.pid)
        proc.wait()

    def node_of(self, pid: int) -> str:
        """The node whose session holds ``pid``'s parent (a unit's worker leads a session of
        its own; the Ray worker that started it belongs to its node's)."""
        parent = _stat(pid)[1]
        session = _stat(parent)[3]
        for name, proc in self.nodes.items():
            if proc.pid == session:
                return name
        raise LookupError(f"process {pid}: its parent {parent} is in no node of this cluster")

    def stop(self) -> None:
        for name in [n for n in self.nodes if n != "head"] + ["head"] * ("head" in self.nodes):
            self.kill_node(name)


def kill_session(sid: int) -> None:
    """SIGKILL every process whose session id is ``sid`` (Ray workers leave the node's
    process group but not its session)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat(int(stat.parent.name))
        except OSError:
            continue
        if fields[3] == sid:
            try:
                os.kill(int(stat.parent.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _stat(pid: int) -> list[int]:
    """/proc/<pid>/stat after the command: [state (0), ppid, pgrp, session, ...] as ints
    where they are numbers (state as 0)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return [0] + [int(f) for f in fields[1:6]]


def new_cluster() -> LocalCluster:
    # Ray's unix socket paths must stay short: a short folder under /tmp, not pytest's tmp_path.
    return LocalCluster(Path(tempfile.mkdtemp(prefix="sbray-", dir="/tmp")))
