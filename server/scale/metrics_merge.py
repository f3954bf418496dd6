"""/metrics of a node with several workers: the workers' expositions added up sample by sample, so that the
node reports the same metric names a single process does (counters and histogram buckets summed, gauges such as
sessions_active summed, creation times the earliest), followed by the node's own metrics about its workers."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from server.scale.supervisor import Supervisor

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    escaped = (v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"") for _, v in labels)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(labels, escaped)) + "}"


def _family(name: str, kind: str, help: str, samples: Iterable[tuple[str, Labels, float]]) -> str:
    lines = [f"# HELP {name} {help}", f"# TYPE {name} {kind}"]
    lines += [f"{sample}{_labels(labels)} {floatToGoString(value)}" for sample, labels, value in samples]
    return "\n".join(lines) + "\n"


def merge_expositions(texts: Sequence[str]) -> str:
    """One exposition of several processes' metrics (same names and labels add up; `*_created` keeps the min)."""
    families: dict[str, tuple[str, str, dict[tuple[str, Labels], float]]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            kind, help, samples = families.setdefault(family.name, (family.type, family.documentation, {}))
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in samples:
                    samples[key] = sample.value
                elif family.name.endswith("_created"):
                    samples[key] = min(samples[key], sample.value)
                else:
                    samples[key] += sample.value
    out = []
    for name, (kind, help, samples) in families.items():
        exposed = f"{name}_total" if kind == "counter" else name
        out.append(_family(exposed, kind, help, ((s, labels, v) for (s, labels), v in samples.items())))
    return "".join(out)


def node_metrics(supervisor: Supervisor) -> str:
    """The supervisor's own view: workers by state, restarts, sessions per worker, and whether it drains."""
    workers = supervisor.workers
    ready = sum(w.ready for w in workers)
    return "".join([
        _family("avatar_workers", "gauge", "Worker processes of this node, by state", [
            ("avatar_workers", (("state", "ready"),), ready),
            ("avatar_workers", (("state", "starting"),), len(workers) - ready),
        ]),
        _family("avatar_worker_restarts_total", "counter", "Worker processes started again after they died",
                [("avatar_worker_restarts_total", (), sum(w.restarts for w in workers))]),
        _family("avatar_worker_sessions", "gauge", "Sessions open in each worker process",
                [("avatar_worker_sessions", (("worker", str(w.index)),), len(w.sessions)) for w in workers]),
        _family("avatar_node_draining", "gauge", "1 while the node takes no new sessions (shutting down)",
                [("avatar_node_draining", (), float(supervisor.draining))]),
    ])
