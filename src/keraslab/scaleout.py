"""The ``--distribute`` settings of a training process, checked before Keras loads (no Keras
import here); :mod:`keraslab.engine.distribute` turns them into a Keras distribution."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from keraslab.errors import UserError

MODES = ("data-parallel", "model-parallel")
ENV = {  # the standard variables keras.distribution.initialize reads
    "coordinator": "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "num_processes": "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "process_id": "KERAS_DISTRIBUTION_PROCESS_ID",
}
SIMULATE = "XLA_FLAGS=--xla_force_host_platform_device_count=N"


def parse_mesh(text: str) -> tuple[int, int]:
    """``"2x2"`` -> ``(2, 2)``: data-parallel replicas x model shards."""
    parts = str(text).lower().split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 2 or min(shape) < 1:
        raise UserError(
            f"--mesh {text!r}: give REPLICASxSHARDS, e.g. --mesh 2x2 (2 data-parallel replicas, "
            "each model split over 2 devices)."
        )
    return shape


@dataclass(frozen=True)
class Distribute:
    """How one training process spreads its work (the ``--distribute`` run options).

    Args:
        mode: "data-parallel" or "model-parallel".
        devices: optional int. Devices to use in all (every visible one by default).
        mesh: optional (replicas, shards) for model-parallel (default (1, devices)).
        coordinator: optional "HOST:PORT" of process 0 (several processes only).
        num_processes: int. Processes in the job.
        process_id: int. This process, 0 .. num_processes - 1; 0 writes the run.
        timeout: int. Seconds to wait for the coordinator before giving up.
    """

    mode: str
    devices: int | None = None
    mesh: tuple[int, int] | None = None
    coordinator: str | None = None
    num_processes: int = 1
    process_id: int = 0
    timeout: int = 60

    @classmethod
    def from_options(cls, mode, devices=None, mesh=None, coordinator=None, num_processes=None,
                     process_id=None, timeout=60, env=os.environ):  # fmt: skip
        """Settings from the command line, falling back on the ``KERAS_DISTRIBUTION_*``
        variables; one-line errors for values that cannot work (checked before Keras loads)."""
        if mode not in MODES:
            raise UserError(f"--distribute {mode!r}: choose {' or '.join(MODES)}.")
        coordinator = coordinator or env.get(ENV["coordinator"]) or None
        if coordinator and "," in coordinator:  # Keras's variable may list every job
            coordinator = coordinator.split(",")[0]
        num_processes = num_processes or _env_int(env, "num_processes") or 1
        process_id = process_id if process_id is not None else _env_int(env, "process_id") or 0
        if num_processes > 1 and not coordinator:
            raise UserError(
                f"--num-processes {num_processes} needs --coordinator HOST:PORT (the address "
                "of process 0, the same on every process)."
            )
        if coordinator:
            host, _, port = coordinator.rpartition(":")
            if not host or not port.isdigit():
                raise UserError(
                    f"--coordinator {coordinator!r}: give HOST:PORT, e.g. 10.0.0.1:1234."
                )
            if num_processes < 2:
                raise UserError("--coordinator is for several processes: add --num-processes P.")
        if not 0 <= process_id < num_processes:
            raise UserError(
                f"--process-id {process_id}: must be 0 .. {num_processes - 1} "
                f"(--num-processes {num_processes})."
            )
        shape = parse_mesh(mesh) if mesh is not None else None
        if shape is not None and mode != "model-parallel":
            raise UserError(
                "--mesh is for --distribute model-parallel (data-parallel: --devices N)."
            )
        if shape is not None and devices is not None and shape[0] * shape[1] != devices:
            raise UserError(
                f"--mesh {mesh} uses {shape[0] * shape[1]} devices but --devices is {devices}."
            )
        return cls(mode, devices, shape, coordinator, num_processes, process_id, timeout)

    @property
    def primary(self) -> bool:
        """True on the process that writes the run folder (process 0)."""
        return self.process_id == 0

    def as_dict(self) -> dict:
        return {
            "mode": self.mode, "devices": self.devices, "mesh": self.mesh,
            "num_processes": self.num_processes,
        }  # fmt: skip


def _env_int(env, key) -> int | None:
    text = env.get(ENV[key])
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{ENV[key]}={text!r} is not an integer.") from None


def check_backend(backend: str) -> None:
    """``--distribute`` runs on JAX only: say which backend can, before anything loads."""
    if backend != "jax":
        raise UserError(
            f"--distribute runs on the jax backend only (keras.distribution); the {backend} "
            "backend has no Keras distribution for keraslab's train steps: add --backend jax."
        )


def wait_for_coordinator(address: str, timeout: float, interval: float = 0.5) -> None:
    """Return once ``HOST:PORT`` accepts a connection; one-line error after ``timeout`` seconds
    (JAX itself would abort the process with a C++ stack trace)."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=min(interval, timeout)):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise UserError(
                    f"the coordinator {address} did not answer in {timeout:g} s: start process 0 "
                    "first (same --coordinator), or check the address and the firewall."
                ) from None
            time.sleep(interval)
