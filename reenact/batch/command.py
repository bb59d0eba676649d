"""`reenact batch`: the command line over `reenact.batch.execute`."""
from __future__ import annotations

import argparse
import dataclasses

from ..errors import ConfigError

EXAMPLES = """examples:
  reenact batch faces/ --edit "AU12=0:5:1" -o out/au12          every AU12 intensity 0..5 on every face
  reenact batch faces/ --edit "AU06=0:3:1 x AU12=0:5:1" -o out/x  crossed sweeps: 4 x 6 edits per face
  reenact batch "data/**/*.jpg" manifest.csv --edit happy --edit sad --ref ref.jpg -o out/emo
  reenact batch faces/ --edit happy -o out --ray                  start or join a local Ray instance
  reenact batch /shared/faces --edit happy -o /shared/out --ray-address 10.0.0.1:6379
  reenact batch --spec spec.yaml                                  the same settings from a YAML file

edits: a preset (happy), explicit absolute intensities (AU12=3,AU6=2), a sweep (AU12=0:5:1, stop
included), sweeps crossed with ' x ', or ref:IMAGE. A manifest is a CSV with a 'path' column; its
other columns are carried into labels.csv. A second run into the same folder skips finished outputs
(content hash of input, edit, editor and config) and redoes failed ones.
"""


def add_parser(sub) -> None:
    ap = sub.add_parser("batch", help="AU-labelled edits of whole datasets (process pool or Ray)",
                        description="Edit every input with every edit; write the outputs, labels.csv (target "
                                    "and read-back AUs, metrics, status) and run.json.",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", metavar="INPUT", help="folder (recursive), glob, CSV manifest or file")
    ap.add_argument("--edit", action="append", dest="edits", metavar="SPEC", help="edit spec; repeat for more")
    ap.add_argument("--ref", action="append", dest="refs", metavar="IMAGE", help="reference face; repeat for more")
    ap.add_argument("-o", "--output", metavar="OUTDIR", help="output folder (made if missing)")
    ap.add_argument("--spec", metavar="YAML", help="batch spec file; flags given here override it")
    ap.add_argument("--editor", help="editor for every edit (default rig)")
    ap.add_argument("--strength", type=float, help="scale of every edit, 0..1.5 (default 1)")
    ap.add_argument("--mode", choices=("absolute", "relative"),
                    help="default: explicit AUs absolute, presets their own mode or relative")
    ap.add_argument("--config", help="YAML config to start from (default: configs/default.yaml)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override, e.g. --set aligner.size=512; repeat for more")
    ap.add_argument("--workers", type=int, help="worker processes (default one per core; Ray: one per CPU); "
                                                "0 runs in this process")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--ray", action="store_true", default=None, help="start or join a local Ray instance")
    where.add_argument("--ray-address", metavar="ADDR", help="join the Ray cluster at ADDR (host:port)")
    ap.add_argument("--seed", type=int, help="run seed (default 0), recorded in run.json")
    ap.add_argument("--judge", help="'module:factory' making a judge callable; 'none' turns the default off")
    ap.add_argument("--format", dest="image_format", help="image output format (default .png)")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    ap.set_defaults(func=run)


def _overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        key, eq, value = p.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"bad --set {p!r}: use KEY=VALUE, e.g. aligner.size=512")
        out[key.strip()] = value.strip()
    return out


def spec_from_args(args):
    from .spec import BatchSpec, load_spec

    judge = None if (args.judge or "").lower() == "none" else args.judge
    given = dict(inputs=args.inputs or None, edits=args.edits, refs=args.refs, output=args.output,
                 editor=args.editor, strength=args.strength, mode=args.mode, config=args.config,
                 overrides=_overrides(args.set) or None, workers=args.workers, ray=args.ray,
                 ray_address=args.ray_address, seed=args.seed, image_format=args.image_format)
    if args.spec:
        spec = load_spec(args.spec, **given)
    else:
        spec = BatchSpec(**{k: v for k, v in given.items() if v is not None})
    spec = dataclasses.replace(spec, progress=not args.no_progress)
    if args.judge is not None:
        spec = dataclasses.replace(spec, judge=judge)
    return spec


def run(args) -> int:
    from .driver import LABELS, execute

    out = execute(spec_from_args(args))
    df = out.labels
    failed = df[df["status"] == "failed"]
    rate = out.processed / out.seconds if out.seconds else 0.0
    print(f"batch: {len(df)} outputs, {len(df) - len(failed)} ok, {len(failed)} failed, "
          f"{out.skipped} skipped as already done; {out.processed} made at {rate:.2f} items/s "
          f"({out.executor}, {out.workers} worker{'s' * (out.workers != 1)}, {out.seconds:.1f} s)")
    for _, r in failed.head(5).iterrows():
        print(f"  failed: {r['output']}: {r['error']}")
    if len(failed) > 5:
        print(f"  ... and {len(failed) - 5} more failed rows")
    print(f"labels: {out.outdir / LABELS}")
    return 0
