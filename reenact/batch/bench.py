"""`reenact bench --batch`: batch items/s on 1 local worker, N local workers and N Ray workers, one run.

Each configuration runs the same work (the shared stills, or the bundled astronaut, × an AU12 sweep)
into a fresh folder, so nothing is skipped. Rates are steady state: every worker's first WARMUP items
(process start, model loading, pipeline construction) are left out, and items are counted only while
every worker is busy, from the moment the last worker finished its warm-up to the moment the first
worker finished its last item. Scaling efficiency = N-worker rate / (N × 1-worker rate).

This project's machines are shared, so the three configurations run in `rounds`, one after another
in each round, and each round's efficiency pairs rates measured within the same minute. Two
figures that neighbours cannot move are reported beside them: CPU ms per item (all threads of the
worker process; equal for 1 and N workers means the executor adds no work), and a control: N
processes spinning a pure-Python loop, whose efficiency is the share of N cores the machine gave.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .driver import Outcome, execute
from .executors import cores
from .worker import Result

WARMUP = 2
STILLS = ("astronaut.png", "portrait_man.jpg", "jesper.jpg", "smile_man.jpg", "takeo.ppm")
BUNDLED = Path(__file__).resolve().parents[1] / "data" / "astronaut.png"
RAY_STORE_BYTES = 256 * 2**20  # nothing large goes through the object store


def _spin(n: int) -> float:
    """A pure-Python CPU loop: no I/O, no memory traffic."""
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t


def control_efficiency(n: int, loops: int = 10_000_000) -> float:
    """Efficiency of N spinning processes against one: the share of N cores this machine gives now."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(n) as pool:
        pool.map(_spin, [1000] * n)  # the processes exist before the clock starts
        one = pool.apply(_spin, (loops,))
        t = time.perf_counter()
        pool.map(_spin, [loops] * n, chunksize=1)
        many = time.perf_counter() - t
    return one / many


def steady(results: list[Result], warmup: int = WARMUP) -> tuple[float, float, int]:
    """(items/s, CPU s per item, items counted) while all workers were busy after their warm-up."""
    by_worker: dict[int, list[Result]] = {}
    for r in results:
        by_worker.setdefault(r.pid, []).append(r)
    runs = [sorted(rs, key=lambda r: r.finished) for rs in by_worker.values()]
    if any(len(rs) <= warmup + 1 for rs in runs):
        return float("nan"), float("nan"), 0
    start = max(rs[warmup - 1].finished for rs in runs)
    stop = min(rs[-1].finished for rs in runs)
    counted = [r for rs in runs for r in rs if start < r.finished <= stop]
    if stop <= start or not counted:
        return float("nan"), float("nan"), 0
    return len(counted) / (stop - start), statistics.fmean(r.cpu for r in counted), len(counted)


@dataclass
class Measure:
    rate: float
    cpu_s: float
    counted: int
    wall_s: float


@dataclass
class Config:
    label: str
    workers: int
    ray: bool
    runs: list[Measure] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(m.rate for m in self.runs)

    @property
    def cpu_ms(self) -> float:
        return 1000 * statistics.median(m.cpu_s for m in self.runs)


@dataclass
class BatchBenchResult:
    inputs: list[str]
    per_worker: int
    configs: list[Config]
    controls: list[float] = field(default_factory=list)
    load: list[tuple[float, ...]] = field(default_factory=list)

    def efficiencies(self, c: Config) -> list[float]:
        """Per round: this configuration's rate over N × the 1-worker rate of the same round."""
        base = self.configs[0]
        return [m.rate / (c.workers * b.rate) for m, b in zip(c.runs, base.runs)]

    def lines(self) -> list[str]:
        def span(xs):
            return f"{min(xs):.2f}–{max(xs):.2f}" if len(xs) > 1 else ""

        out = [f"batch bench: {len(self.inputs)} stills ({', '.join(Path(p).name for p in self.inputs)}) × an AU12 "
               f"sweep, rig editor, PNG out; {self.per_worker} items per worker per round after {WARMUP} warm-up "
               f"items each; {len(self.controls)} rounds; {cores()} cores",
               f"{'executor':<9} {'workers':>7} {'items/s':>8} {'range':>12} {'CPU ms/item':>11} "
               f"{'efficiency':>10} {'range':>10}"]
        for c in self.configs:
            eff = self.efficiencies(c)
            out.append(f"{c.label:<9} {c.workers:>7} {c.rate:>8.2f} {span([m.rate for m in c.runs]):>12} "
                       f"{c.cpu_ms:>11.1f} {statistics.median(eff):>10.2f} {span(eff):>10}")
        n = self.configs[-1].workers
        out.append(f"control, {n} processes spinning a pure-Python loop, efficiency per round: "
                   + ", ".join(f"{x:.2f}" for x in self.controls) + f" (the share of {n} cores the machine gave)")
        out.append("load average (1 min) before each round: " + ", ".join(f"{x[0]:.2f}" for x in self.load))
        out.append("items/s and efficiency: medians over rounds; efficiency pairs rates of the same round; "
                   "warm-up items (process start, model load, pipeline build) excluded")
        return out


def _inputs(media: Path | None) -> list[str]:
    found = [str(media / n) for n in STILLS if media is not None and (media / n).exists()]
    return found or [str(BUNDLED)]


def _sweep(n_items: int, n_inputs: int) -> str:
    """An AU12 sweep from 0 to 5 with enough values for n_items over n_inputs stills."""
    values = max(2, -(-n_items // n_inputs))
    return f"AU12=0:5:{5 / (values - 1):.6f}"


def run_batch_bench(*, workers: int | None = None, per_worker: int = 40, rounds: int = 3,
                    media: Path | None = None, ray: bool = True) -> BatchBenchResult:
    n = workers or cores()
    try:
        import ray as _  # noqa: F401
    except ImportError:
        ray = False  # the Ray row needs reenact[ray]
    inputs = _inputs(media)
    configs = [Config("local", 1, False), Config("local", n, False)] + ([Config("ray", n, True)] if ray else [])
    res = BatchBenchResult(inputs, per_worker, configs)
    with tempfile.TemporaryDirectory(prefix="reenact-batch-bench-") as tmp:
        for r in range(rounds):
            res.load.append(os.getloadavg())
            res.controls.append(control_efficiency(n))
            for i, c in enumerate(configs):
                total = (per_worker + WARMUP) * c.workers
                spec = {"inputs": inputs, "edits": [_sweep(total, len(inputs))], "output": f"{tmp}/{r}-{i}",
                        "workers": c.workers, "ray": c.ray, "progress": False, "judge": None}
                t0 = time.perf_counter()
                out: Outcome = execute(spec, num_cpus=c.workers if c.ray else None,
                                       object_store_memory=RAY_STORE_BYTES if c.ray else None)
                rate, cpu, counted = steady(out.results)
                c.runs.append(Measure(rate, cpu, counted, time.perf_counter() - t0))
    return res
