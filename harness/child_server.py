"""A server the tests and benchmarks run as a child process in a folder of its own: started, waited for until it
answers, stopped (and its folder removed at the end of a `with` block); its output kept for the error messages."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class ChildServer(ABC):
    name: str

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        self._log_path = self.folder / "output.log"
        self._proc: subprocess.Popen | None = None

    @abstractmethod
    def command(self) -> list[str]:
        """What runs the server (in `folder`)."""

    @abstractmethod
    def answers(self) -> bool:
        """Whether the server is up (one quick request)."""

    def environment(self) -> Mapping[str, str] | None:
        """The child's environment (None: this process's)."""
        return None

    @property
    def pid(self) -> int:
        assert self._proc is not None, f"{self.name} is not running"
        return self._proc.pid

    def start(self) -> ChildServer:
        with open(self._log_path, "a") as log:
            self._proc = subprocess.Popen(
                self.command(), cwd=self.folder, env=self.environment(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not come up:\n{self.log_tail()}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def log_tail(self, chars: int = 4000) -> str:
        return self._log_path.read_text(errors="replace")[-chars:] if self._log_path.exists() else ""

    def __enter__(self):  # noqa: ANN204 - the subclass itself
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
