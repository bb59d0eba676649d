"""`reenact engines list | export | build | verify`: the editors' networks as ONNX, TensorRT plans, checks."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import AlignerConfig
from ..errors import ReenactError
from ._common import at_least

DESCRIPTION = """\
Editor networks (graphs) are exported from torch to ONNX once, recorded with their sha256 in a
manifest.json, and run by onnxruntime, torch, TensorRT or their NumPy/OpenCV twin. The package ships
the weightless warp_blend.onnx; exports go to $REENACT_ENGINES_DIR (default ~/.cache/reenact/engines),
which is searched first. TensorRT plans and CPU measurements go to the user cache.
The tensorrt backend is written against the TensorRT 10/11 API but has not been executed in this
project's CI (TensorRT cannot be installed there); torch on CUDA is the verified GPU path."""

EXAMPLES = """\
examples:
  reenact engines list                          graphs, exported files (hash-checked), backends, auto's pick
  reenact engines export                        every graph -> NAME.onnx + manifest (needs torch)
  reenact engines export warp_blend --fp16      fp16 inside, fp32 in and out (TensorRT, CUDA)
  reenact engines export warp_blend --batch 8   static shapes 8x3x256x256
  reenact engines build --fp16 --batch 8        TensorRT plans for this GPU, batch 1..8 (--static: 8 only)
  reenact engines verify                        max error and crops/s per backend at batch 1 and 8
"""


def add_parser(subparsers) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", help="engines folder (default: $REENACT_ENGINES_DIR or ~/.cache/reenact/engines, "
                                      "then the bundled graphs)")
    names = argparse.ArgumentParser(add_help=False, parents=[common])
    names.add_argument("names", nargs="*", metavar="GRAPH", help="graph names (default: all registered)")
    names.add_argument("--size", type=at_least(16), default=AlignerConfig.size,
                       help="crop side in pixels (default %(default)s)")

    ap = subparsers.add_parser("engines", help="export, build and check the editors' inference engines",
                               description=DESCRIPTION, epilog=EXAMPLES,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = ap.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = actions.add_parser("list", parents=[common], help="graphs, exported files, plans, backends, auto's pick")
    p.set_defaults(func=_list)

    p = actions.add_parser("export", parents=[names], help="torch -> ONNX + manifest (needs torch)")
    p.add_argument("--fp16", action="store_true", help="fp16 inside, fp32 in and out")
    p.add_argument("--batch", type=at_least(1), help="static batch N (all dims fixed); default: dynamic batch and side")
    p.add_argument("--opset", type=at_least(17), default=17, help="ONNX opset, >= 17 (default %(default)s)")
    p.set_defaults(func=_export)

    p = actions.add_parser("build", parents=[names], help="TensorRT plans for this GPU (needs tensorrt)")
    p.add_argument("--fp16", action="store_true", help="from the fp16 export (strongly typed plan)")
    p.add_argument("--batch", type=at_least(1), default=8, help="largest batch (default %(default)s)")
    p.add_argument("--static", action="store_true", help="only batch N: a static profile")
    p.add_argument("--force", action="store_true", help="rebuild even if the cached plan is current")
    p.set_defaults(func=_build)

    p = actions.add_parser("verify", parents=[names], help="every backend: max abs error and crops/s")
    p.add_argument("--batches", type=at_least(1), nargs="+", default=[1, 8], help="batch sizes (default 1 8)")
    p.add_argument("--seconds", type=float, default=1.0, help="timing per backend and batch (default 1)")
    p.set_defaults(func=_verify)


def _dir(args) -> Path | None:
    """--dir, which must exist except as the target of an export; None: the default search."""
    from ..engines.manifest import search_dirs

    if args.dir is None:
        return None
    d = Path(args.dir).resolve()
    return d if args.func is _export else search_dirs(d)[0]


def _list(args) -> int:
    from ..engines import BACKENDS, Manifest, ModelRef, choose, graph, graph_names, resolve
    from ..engines.backend_trt import record_path
    from ..engines.manifest import machine_dir, search_dirs

    d = _dir(args)
    print("graphs:")
    for name in graph_names():
        g = graph(name)
        twin = ", NumPy/OpenCV twin" if g.reference else ""
        print(f"  {name} v{g.version}: {' '.join(map(str, g.inputs))} -> {' '.join(map(str, g.outputs))}{twin}")
    for folder in search_dirs(d):
        models = Manifest(folder).models
        print(f"exported in {folder}:" + ("" if models else " none"))
        for stem, e in models.items():
            try:
                ModelRef(e.graph, stem, e.precision, folder, e).onnx_bytes()
                status = "ok"
            except ReenactError as err:
                status = f"BAD: {err}"
            print(f"  {e.file}  {e.graph} v{e.version} {e.precision} batch {e.batch or 'dynamic'} "
                  f"opset {e.made.get('opset')} sha256 {e.sha256[:12]}  {status}")
    for plan in sorted(machine_dir().glob("*.plan")):
        rec = record_path(plan)
        print(f"  {plan.name}  {rec.read_text().strip() if rec.exists() else '(no build record: will be rebuilt)'}")
    print("backends:")
    for name in BACKENDS.names():
        p = BACKENDS.get(name).probe()
        print(f"  {name:<12} {','.join(p.devices) or 'unavailable':<12} {p.detail}")
    for name in graph_names():
        c = choose(resolve(name, "fp32", d))
        print(f"auto for {name}: {c.backend} on {c.device} ({c.reason})")
    return 0


def _export(args) -> int:
    from ..engines import engines_dir, graph_names
    from ..engines.export import export

    d = engines_dir(_dir(args))
    for name in args.names or graph_names():
        e = export(name, d, precision="fp16" if args.fp16 else "fp32", batch=args.batch, size=args.size,
                   opset=args.opset)
        print(f"exported {d / e.file}: {e.graph} v{e.version} {e.precision}, opset {e.made['opset']}, "
              f"batch {e.batch or 'dynamic'}, sha256 {e.sha256[:12]}; recorded in {d / 'manifest.json'}")
    return 0


def _build(args) -> int:
    from ..engines import Profile, graph_names, resolve
    from ..engines.backend_trt import ensure_plan

    d = _dir(args)
    profile = Profile.static(args.batch, args.size) if args.static else Profile(1, 1, args.batch, args.size)
    for name in args.names or graph_names():
        _, path, why = ensure_plan(resolve(name, "fp16" if args.fp16 else "fp32", d), profile, force=args.force)
        print(f"{path}: " + (f"built ({why})" if why else "up to date"))
    return 0


def _verify(args) -> int:
    from ..engines import choose, graph, graph_names, resolve
    from ..engines.verify import verify

    d = _dir(args)
    batches = tuple(args.batches)
    for name in args.names or graph_names():
        results = verify(name, engines_dir=d, size=args.size, batches=batches, seconds=args.seconds)
        print(f"{name} v{graph(name).version}, {args.size}x{args.size} crops, "
              "error against onnxruntime/cpu fp32:")
        print(f"  {'backend':<12} {'device':<6} {'prec':<5} {'max|err|':>9} "
              + " ".join(f"{f'b{b} crops/s':>12}" for b in batches) + "  note")
        for r in results:
            err = f"{r.max_abs_err:9.1e}" if r.max_abs_err is not None else f"{'-':>9}"
            rates = " ".join(f"{r.crops_per_s[b]:12.1f}" if b in r.crops_per_s else f"{'-':>12}" for b in batches)
            print(f"  {r.backend:<12} {r.device:<6} {r.precision:<5} {err} {rates}  {r.note}")
        c = choose(resolve(name, "fp32", d))
        print(f"  auto: {c.backend} on {c.device} ({c.reason})")
    return 0
