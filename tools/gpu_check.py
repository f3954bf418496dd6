"""Everything the GPU path needs measured, in one call of a few minutes on a GPU machine; results as JSON and
markdown in the folder given on the command line (written again after every part, so a run cut short keeps
what it had).

Parts, in order, each with its own time budget (`--budget PART=SECONDS`); a part that fails is reported with its
error and the next one runs:
- env: GPU, driver, torch / CUDA / cuDNN / ONNX Runtime versions, CPU count and model.
- face_parity: the face network's PyTorch backend on the device (FP32, and FP16 as the CUDA backend would keep
  it) against ONNX Runtime on the CPU: max abs error per batch size.
- render_parity: the tensor renderer on the device against the CPU renderer on harness/render_parity.py's
  frames (rest, mouth shapes, blinks, head and brows, a sentence; both avatars), against its tolerance.
- face_times: per-batch time of the face network at each batch size: the device backend (the CUDA backend's CUDA
  graphs on a GPU) and ONNX Runtime on one CPU thread.
- render_times: per-batch time of the tensor renderer (`--renderer torch`: plan on the CPU, draw and YUV on the
  device, copy back) at each batch size, the planning's share of it, and the CPU renderer's time per frame.
- sweep: sessions per machine of the whole media pipeline without the network (tools/pipeline_sweep.py): TTS,
  the face network (`--face-backend auto`) and the tensor renderer on the device, VP8 / H.264 and Opus encoding on
  this machine's CPU cores, frames counted as the load client counts them; for each codec, session counts in
  turn until more than 1 % of frames are missing or late.

Here (no GPU), as the tests do: `.venv/bin/python -m tools.gpu_check /tmp/gpu-check --device cpu --quick`.

On a GPU machine without network (README "GPU"), such as the H100/H200 image this project's GPU checks run on:
Python 3.12 with torch (CUDA), onnxruntime (CPU), onnx, numpy, scipy, opencv-python-headless, aiohttp and
prometheus-client, nothing to fetch from. The rest travels as the wheels tools/gpu_wheels.txt names, in `.whl`
(ignored by git; 54 MB, about 63 MB with the repository). Fetch them once, from the repository root:

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \\
      --platform manylinux1_x86_64 -d .whl -r tools/gpu_wheels.txt

then copy the checkout with its `.whl` there and run, from its root, with OUT the results folder

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \\
      .whl/*.whl && export PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1 && set -o pipefail && \\
      python3 -m tools.gpu_check "$OUT" --device cuda 2>&1 | tee "$OUT/gpu_check.log"

(the default budgets add up to 8 minutes; allow 10). The results: gpu_check.json, gpu_check.md and the log.
Exit status 0: every part ran and both parities held; 1: a part failed or a parity was out of tolerance; 2: the
arguments or the device were wrong.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger("gpu_check")
PARTS = ("env", "face_parity", "render_parity", "face_times", "render_times", "sweep")
BUDGET_S = {"env": 20, "face_parity": 45, "render_parity": 90, "face_times": 45, "render_times": 80, "sweep": 200}
QUICK = {"batches": [1, 2], "sessions": [1], "seconds": 2.0, "warmup_s": 1.0, "repeats": 2, "parity_frames": 1,
         "codecs": ["vp8"]}
AVATARS = ("astronaut", "grace_hopper")


class OutOfTime(Exception):
    """A part used up its budget; what it measured so far is kept."""


@dataclass
class Deadline:
    at: float  # time.monotonic()

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if self.left() <= 0:
            raise OutOfTime


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for gpu_check.json and gpu_check.md (created)")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)}")
    parser.add_argument("--batches", default="1,8,32,64,128", help="batch sizes of the parity and time parts")
    parser.add_argument("--sessions", default="1,8,16,32,48,64,96,128", help="session counts of the sweep")
    parser.add_argument("--codecs", default="vp8,h264", help="video encoders of the sweep: vp8, h264")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per sweep point")
    parser.add_argument("--warmup-s", type=float, default=3.0, help="seconds of talking before each measure")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per batch size")
    parser.add_argument("--parity-frames", type=int, default=0, help="frames per parity case (0: all)")
    parser.add_argument("--tts", default="espeak", help="the sweep's speech engine (piper needs its 60 MB voice)")
    parser.add_argument("--budget", action="append", default=[], metavar="PART=SECONDS",
                        help="time budget of one part (repeatable); defaults: "
                             + ", ".join(f"{k}={v}" for k, v in BUDGET_S.items()))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the script works end to end")
    args = parser.parse_args(argv)
    try:
        args.parts = _names(args.parts, PARTS, "part")
        args.codecs = _names(args.codecs, ("vp8", "h264"), "codec")
        args.batches = [int(v) for v in args.batches.split(",")]
        args.sessions = [int(v) for v in args.sessions.split(",")]
        args.budgets = dict(BUDGET_S)
        for item in args.budget:
            part, _, seconds = item.partition("=")
            args.budgets[_names(part, PARTS, "part")[0]] = float(seconds)
    except ValueError as error:
        parser.error(str(error))
    if min(args.batches + args.sessions) < 1:
        parser.error("batch sizes and session counts must be at least 1")
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    return args


def _names(text: str, known: tuple[str, ...], kind: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown {kind} {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}")
    return names


def check_device(name: str) -> torch.device:
    """The torch device to measure on, or SystemExit(2) saying why it cannot be."""
    from engines.avatar.torch_engine import resolve_device

    try:
        return resolve_device(name)
    except ValueError as error:
        print(f"gpu_check: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def timed(call: Callable[[], Any], repeats: int, deadline: Deadline, warmup: int = 2) -> dict[str, float]:
    """Median and p95 wall time of `call` in ms, over up to `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        if times and deadline.left() <= 0:
            break
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1e3)
    ordered = sorted(times)
    return {"n": len(times), "median_ms": statistics.median(ordered),
            "p95_ms": ordered[min(len(ordered) - 1, int(np.ceil(0.95 * len(ordered))) - 1)]}


# ---- parts: each returns its results as a dict; OutOfTime keeps what `results` already holds -----------------

def part_env(args: argparse.Namespace, device: torch.device, deadline: Deadline, results: dict) -> None:
    import cv2
    import onnxruntime

    results.update(device=str(device), python=platform.python_version(), torch=torch.__version__,
                   torch_cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                   onnxruntime=onnxruntime.__version__, opencv=cv2.__version__, numpy=np.__version__,
                   cpu_count=os.cpu_count(), cpu_model=_cpu_model())
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        results.update(gpu=properties.name, gpu_memory_gib=round(properties.total_memory / 2**30, 1),
                       gpu_multiprocessors=properties.multi_processor_count,
                       compute_capability=f"{properties.major}.{properties.minor}", driver=_driver_version())
    for module in ("av", "aiortc"):
        try:
            results[module] = __import__(module).__version__
        except ImportError as error:
            results[module] = f"missing ({error}): the sweep cannot run; see this script's docstring"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _driver_version() -> str:
    import subprocess

    try:
        answer = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=10)
        return answer.stdout.strip() or answer.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"


def part_face_parity(args: argparse.Namespace, device: torch.device, deadline: Deadline, results: dict) -> None:
    from engines.face.backends.base import DEFAULT_MODEL
    from engines.face.backends.onnxruntime_backend import OnnxRuntimeBackend
    from engines.face.backends.torch_backend import FP16_TOLERANCE, TorchBackend, probe_batch

    reference = OnnxRuntimeBackend(DEFAULT_MODEL, device="cpu")
    kept = TorchBackend(DEFAULT_MODEL, device=str(device))
    results.update(precision_kept=kept.precision, fp16_tolerance=FP16_TOLERANCE, max_abs_error={})
    kept.close()
    for precision, fp16 in (("fp32", False), ("fp16", True)):
        backend = TorchBackend(DEFAULT_MODEL, device=str(device), fp16=fp16)
        errors = results["max_abs_error"][precision] = {}
        for batch in args.batches:
            deadline.check()
            mel = probe_batch(batch, seed=batch)
            errors[str(batch)] = float(np.abs(backend.run(mel) - reference.run(mel)).max())
        backend.close()
    fp32 = max(results["max_abs_error"]["fp32"].values())
    fp16 = max(results["max_abs_error"]["fp16"].values())
    results["within_tolerance"] = fp32 < 1e-4 and fp16 < 2 * FP16_TOLERANCE


def part_render_parity(args: argparse.Namespace, device: torch.device, deadline: Deadline, results: dict) -> None:
    from engines.avatar import load_avatar
    from harness.render_parity import TOLERANCE, compare, cpu_frames, device_frames, parity_cases

    results["tolerance"] = TOLERANCE.__dict__
    results["cases"] = {}
    verdicts = []
    for name in AVATARS:
        bundle = load_avatar(name)
        for case, frames in parity_cases(bundle).items():
            deadline.check()
            frames = frames[: args.parity_frames] if args.parity_frames else frames
            parity = compare(device_frames(bundle, frames, str(device)), cpu_frames(bundle, frames),
                             bundle.mouth_box)
            results["cases"][f"{name}/{case}"] = {**parity.as_dict(), "within": parity.within(TOLERANCE)}
            verdicts.append(parity.within(TOLERANCE))
    results["within_tolerance"] = all(verdicts)


def part_face_times(args: argparse.Namespace, device: torch.device, deadline: Deadline, results: dict) -> None:
    from engines.face.backends.base import DEFAULT_MODEL
    from engines.face.backends.onnxruntime_backend import OnnxRuntimeBackend
    from engines.face.backends.torch_backend import TorchBackend, probe_batch

    backends = {"device": TorchBackend(DEFAULT_MODEL, device=str(device)),
                "onnxruntime_cpu_1_thread": OnnxRuntimeBackend(DEFAULT_MODEL, device="cpu")}
    results["device_backend"] = f"{backends['device'].name} ({backends['device'].precision})"
    for label, backend in backends.items():
        rows = results[label] = {}
        for batch in args.batches:
            deadline.check()
            mel = probe_batch(batch, seed=batch)
            rows[str(batch)] = timed(lambda: backend.run(mel), args.repeats, deadline)
    backends["device"].close()


def part_render_times(args: argparse.Namespace, device: torch.device, deadline: Deadline, results: dict) -> None:
    import cv2

    from engines.avatar import AvatarRenderer, load_avatar
    from engines.avatar.base import RendererOptions
    from engines.avatar.torch_engine import TorchRendererEngine
    from harness.speech import talking_params

    bundle = load_avatar(AVATARS[0])
    sentence, _ = talking_params()
    engine = TorchRendererEngine(RendererOptions(threads=1 if device.type == "cpu" else 2, device=str(device)))
    engine.prepare(bundle)
    cpu = AvatarRenderer(bundle, seed=0)
    frame = iter(range(10**9))

    def cpu_frame() -> None:
        i = next(frame)
        cv2.cvtColor(cpu.render(i, sentence[i % len(sentence)]), cv2.COLOR_RGB2YUV_I420)

    cv2.setNumThreads(1)
    results["cpu_renderer_per_frame"] = timed(cpu_frame, max(args.repeats, 25), deadline)
    results["torch_renderer"] = {}
    for batch in args.batches:
        deadline.check()
        sessions = [engine.open(bundle, seed) for seed in range(batch)]

        def requests() -> list:
            i = next(frame)
            return [(s._planner, i, sentence[(i + k) % len(sentence)]) for k, s in enumerate(sessions)]

        whole = timed(lambda: engine.render_batch(requests()), args.repeats, deadline)
        planning = timed(lambda: [planner.plan(i, p) for planner, i, p in requests()], args.repeats, deadline)
        results["torch_renderer"][str(batch)] = {**whole, "plan_median_ms": planning["median_ms"],
                                                 "per_frame_ms": whole["median_ms"] / batch}
        if device.type == "cuda":
            results["torch_renderer"][str(batch)]["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    asyncio.run(engine.close())


def part_sweep(args: argparse.Namespace, device: torch.device, deadline: Deadline, results: dict) -> None:
    from server.config import RenderSettings, ServerConfig, Workers
    from tools.pipeline_sweep import MAX_LATE_SHARE, sweep

    cores = os.cpu_count() or 1
    config = ServerConfig(tts=args.tts, tts_engines=(args.tts,), renderer="torch", face_backend="auto",
                          max_sessions=max(args.sessions), render=RenderSettings(render_device=str(device)),
                          workers=replace(Workers(), tts_threads=max(2, cores // 4)))
    results.update(tts=args.tts, renderer=f"torch on {device}", cores=cores, max_late_share=MAX_LATE_SHARE,
                   points=[])
    for number, codec in enumerate(args.codecs):
        # Each codec gets an equal share of what is left of the budget.
        share = deadline.left() / (len(args.codecs) - number)
        backend, cut_short = asyncio.run(sweep(config, args.sessions, codec, args.seconds, args.warmup_s,
                                               time.monotonic() + share,
                                               lambda point: results["points"].append(point.as_dict())))
        results["face_backend"] = backend
        results[f"{codec}_cut_short_by_budget"] = cut_short
        within = [p["sessions"] for p in results["points"] if p["codec"] == codec and p["late_share"] <= MAX_LATE_SHARE]
        results[f"{codec}_most_sessions_within_budget"] = max(within, default=0)


PART_FUNCTIONS = {"env": part_env, "face_parity": part_face_parity, "render_parity": part_render_parity,
                  "face_times": part_face_times, "render_times": part_render_times, "sweep": part_sweep}


# ---- the report ------------------------------------------------------------------------------------------------

class Report:
    def __init__(self, out: Path, args: argparse.Namespace) -> None:
        self.out = out
        self.data: dict[str, Any] = {"command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                     "parts": {}}
        self.args = args

    def run(self, name: str, device: torch.device) -> bool:
        """Run one part within its budget; True when it completed (a parity out of tolerance counts as not)."""
        results: dict[str, Any] = {}
        entry = self.data["parts"][name] = {"status": "running", "results": results}
        began = time.monotonic()
        budget = self.args.budgets[name]
        print(f"== {name} (budget {budget:.0f} s)", flush=True)
        try:
            PART_FUNCTIONS[name](self.args, device, Deadline(began + budget), results)
            entry["status"] = "ok" if results.get("within_tolerance", True) else "out of tolerance"
        except OutOfTime:
            entry["status"] = "out of time (partial results)"
        except Exception as error:  # one part's failure must not lose the others
            entry["status"] = "failed"
            entry["error"] = f"{type(error).__name__}: {error}"
            entry["traceback"] = traceback.format_exc()
            print(entry["traceback"], file=sys.stderr, flush=True)
        entry["seconds"] = round(time.monotonic() - began, 1)
        print(f"   {entry['status']} in {entry['seconds']} s", flush=True)
        self.write()
        return entry["status"] in ("ok", "out of time (partial results)")

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "gpu_check.json").write_text(json.dumps(self.data, indent=2, default=str))
        (self.out / "gpu_check.md").write_text(markdown(self.data))


def markdown(data: dict[str, Any]) -> str:
    lines = ["# GPU check", "", f"`{data['command']}` (started {data['started']})", ""]
    for name, entry in data["parts"].items():
        lines += [f"## {name}: {entry['status']} ({entry.get('seconds', '?')} s)", ""]
        if "error" in entry:
            lines += [f"    {entry['error']}", ""]
        results = entry["results"]
        if name == "env":
            lines += [f"- {key}: {value}" for key, value in results.items()] + [""]
        elif name == "face_parity" and "max_abs_error" in results:
            lines += _table(["precision", *results["max_abs_error"].get("fp32", {})],
                            [[p, *(f"{e:.2e}" for e in errors.values())]
                             for p, errors in results["max_abs_error"].items()])
            lines += [f"max abs error against ONNX Runtime (CPU) per batch size; the backend keeps "
                      f"{results['precision_kept']}", ""]
        elif name == "render_parity" and "cases" in results:
            lines += _table(["case", "frames", "max", "share > 1", "mean", "mouth", "within"],
                            [[case, r["frames"], r["max_rgb"], f"{r['off_share']:.1e}", f"{r['mean_rgb']:.1e}",
                              f"{r['mouth_share']:.4f}", r["within"]] for case, r in results["cases"].items()])
            lines += [f"tolerance: {results['tolerance']}", ""]
        elif name == "face_times":
            for label in ("device", "onnxruntime_cpu_1_thread"):
                if label in results:
                    lines += [f"{label} ({results.get('device_backend', '')})" if label == "device" else label, ""]
                    lines += _table(["batch", "median ms", "p95 ms", "µs per row"],
                                    [[b, f"{t['median_ms']:.3f}", f"{t['p95_ms']:.3f}",
                                      f"{1e3 * t['median_ms'] / int(b):.1f}"] for b, t in results[label].items()])
        elif name == "render_times":
            if "cpu_renderer_per_frame" in results:
                cpu = results["cpu_renderer_per_frame"]
                lines += [f"CPU renderer (warp, one thread): {cpu['median_ms']:.2f} ms per frame "
                          f"(p95 {cpu['p95_ms']:.2f})", ""]
            lines += _table(["batch", "median ms", "p95 ms", "planning ms", "ms per frame"],
                            [[b, f"{t['median_ms']:.2f}", f"{t['p95_ms']:.2f}", f"{t['plan_median_ms']:.2f}",
                              f"{t['per_frame_ms']:.3f}"] for b, t in results.get("torch_renderer", {}).items()])
        elif name == "sweep":
            lines += [f"TTS {results.get('tts')}, face backend {results.get('face_backend')}, renderer "
                      f"{results.get('renderer')}, encoding on {results.get('cores')} cores", ""]
            lines += _table(["codec", "sessions", "frames", "missing", "late", "missing or late", "min fps",
                             "cores busy"],
                            [[p["codec"], p["sessions"], p["frames"], p["missing"], p["late"],
                              f"{100 * p['late_share']:.2f} %", f"{p['fps_min']:.1f}", f"{p['cpu_cores_busy']:.1f}"]
                             for p in results.get("points", [])])
    return "\n".join(lines) + "\n"


def _table(header: list, rows: list[list]) -> list[str]:
    return ["| " + " | ".join(map(str, header)) + " |", "|" + " --- |" * len(header),
            *("| " + " | ".join(map(str, row)) + " |" for row in rows), ""]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    device = check_device(args.device)
    report = Report(args.out, args)
    completed = [report.run(name, device) for name in args.parts]
    print(f"results in {args.out / 'gpu_check.md'}", flush=True)
    return 0 if all(completed) else 1


if __name__ == "__main__":
    sys.exit(main())
