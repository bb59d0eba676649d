"""`reenact batch`: AU-labelled edits of whole datasets, on a process pool or a Ray cluster.

    from reenact import batch
    labels = batch.run({"inputs": ["faces/"], "edits": ["AU12=0:5:1"], "output": "out/au12"})
    labels = batch.run("spec.yaml")                   # the same keys in a YAML file (see spec.py)
    labels = batch.run(batch.BatchSpec(inputs=["faces/"], edits=["happy"], output="out", ray=True))

Every input × every edit is one output, named `<input>__<edit>.png` (`.mp4` for a video) in the output
folder, with one row of `labels.csv` (returned as a DataFrame): the edit, its target AUs, the AUs read
back on the output, metrics and status. `run.json` records versions, config and seed. A rerun skips
outputs whose content hash still matches and redoes failed ones.

Modules, in the order a run uses them: `spec` (what to do) → `edits` and `inputs` (expanded) → `driver`
(plan, progress, labels.csv, run.json) → `executors` (inline, process pool, Ray) → `worker` (the one
task: edit, write, read back, measure). `bench` measures items/s per executor, `command` is the CLI.
"""
from .driver import Outcome, execute, run
from .edits import Edit, parse_edit
from .spec import BatchSpec, load_spec
from .worker import Judge

__all__ = ["BatchSpec", "Edit", "Judge", "Outcome", "execute", "load_spec", "parse_edit", "run"]
