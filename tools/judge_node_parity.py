"""Dev check: the numpy judge against the original FaceExpressionNet running in node (tfjs).

Not part of the test suite (CI has no node). It installs @vladmandic/face-api 1.7.15 with tfjs 4.22
into a temporary folder through npm (or uses --node-modules DIR), hands node the same inputs as raw
bytes, and compares the probabilities, for three kinds of input:
  tensor   a deterministic synthetic 112×112 RGB float tensor (the network alone);
  image    a synthetic non-square uint8 image (face-api's own square padding and bilinear resize);
  face     real faces: the image plus the 68 points derived from the tracker's mesh; node makes the
           box with FaceLandmarks68.align() (20 % padding) and crops it with extractFaceTensors, so
           the whole crop chain is compared too. Also the numpy crop fed to node ("face/net").
Run: python tools/judge_node_parity.py [--media ../shared/media] [--backend wasm|cpu] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))   # judge_gallery; it puts this checkout first
from judge_gallery import shared_faces  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))   # the inputs the tests pin
from judge_inputs import synthetic_image, synthetic_tensor  # noqa: E402

from reenact.config import MEDIA_DIR  # noqa: E402
from reenact.judge import EXPRESSIONS, ExpressionJudge, prepare  # noqa: E402
from reenact.judge.crop import landmarks68, pad_to_square, resize_bilinear_legacy  # noqa: E402
from reenact.judge.weights import NPM_PACKAGE, NPM_VERSION  # noqa: E402

TFJS_VERSION = "4.22.0"

NODE_SCRIPT = r"""
const fs = require('fs');
const [dir, backend, modelDir] = process.argv.slice(2);
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const tf = faceapi.tf;
const NAMES = %s;
(async () => {
  await tf.setBackend(backend); await tf.ready();
  await faceapi.nets.faceExpressionNet.loadFromDisk(modelDir);
  const job = JSON.parse(fs.readFileSync(dir + '/job.json', 'utf8'));
  const out = [];
  for (const item of job) {
    const buf = fs.readFileSync(dir + '/' + item.file);
    const t = item.dtype === 'float32'
      ? tf.tensor3d(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4), item.shape, 'float32')
      : tf.tensor3d(Int32Array.from(buf), item.shape, 'int32');
    let input = t, box = null;
    if (item.landmarks) {
      const [h, w] = item.shape;
      const rel = item.landmarks.map(([x, y]) => new faceapi.Point(x / w, y / h));
      const lm = new faceapi.FaceLandmarks68(rel, { width: w, height: h });
      const rect = lm.align();                       // min box of the 68 points, padded by 20 %%
      const c = rect.clipAtImageBorders(w, h);
      box = [c.x, c.y, c.width, c.height];
      input = (await faceapi.extractFaceTensors(t, [rect]))[0];
    }
    const p = await faceapi.nets.faceExpressionNet.predictExpressions(input);
    const z = faceapi.nets.faceExpressionNet.runNet(await faceapi.toNetInput(input));
    out.push({ name: item.name, probabilities: NAMES.map((n) => p[n]), logits: Array.from(z.dataSync()), box });
  }
  fs.writeFileSync(dir + '/out.json', JSON.stringify(out));
  console.log('node ' + process.version + ', tfjs ' + tf.version_core + ', backend ' + tf.getBackend());
})().catch((e) => { console.error(e); process.exit(1); });
""" % json.dumps(list(EXPRESSIONS))


def install(dest: Path, spec: list[str] | None = None) -> Path:
    """`npm install` the packages (default: face-api with tfjs and its wasm backend) into `dest`."""
    spec = spec or [f"{NPM_PACKAGE}@{NPM_VERSION}", f"@tensorflow/tfjs@{TFJS_VERSION}",
                    f"@tensorflow/tfjs-backend-wasm@{TFJS_VERSION}"]
    print(f"npm install {' '.join(spec)} (into {dest})")
    subprocess.run(["npm", "init", "-y"], cwd=dest, check=True, capture_output=True)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", *spec], cwd=dest, check=True)
    return dest / "node_modules"


def arg_parser(doc: str, packages: str) -> argparse.ArgumentParser:
    """The options every parity check takes: --media, --node-modules (one that has `packages`), --json."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--media", default=str(MEDIA_DIR))
    ap.add_argument("--node-modules", help=f"a node_modules folder that already has {packages}")
    ap.add_argument("--json", help="write every input's numpy and node probabilities here")
    return ap


def main() -> int:
    ap = arg_parser(__doc__, "face-api and tfjs")
    ap.add_argument("--backend", default="wasm", choices=("wasm", "cpu"))
    args = ap.parse_args()
    if not shutil.which("node"):
        print("node is not on PATH")
        return 2
    judge = ExpressionJudge()
    work = Path(tempfile.mkdtemp(prefix="judge_parity_"))
    try:
        modules = Path(args.node_modules) if args.node_modules else install(work)
        job, ours = [], {}

        def add(name: str, arr: np.ndarray, net_input: np.ndarray, landmarks=None, box=None) -> None:
            write_input(work, job, name, arr, landmarks=None if landmarks is None else landmarks.tolist())
            ours[name] = (judge.logits(net_input[None])[0], judge.probabilities(net_input[None])[0], box)

        x = synthetic_tensor()
        add("tensor/synthetic", x, x)
        img = synthetic_image()
        sq = resize_bilinear_legacy(pad_to_square(img), 112, 112)
        add("image/synthetic", img, sq)
        for label, image, mesh in shared_faces(Path(args.media)):
            pts = landmarks68(mesh)
            crop, box = prepare(image, mesh)
            add(f"face/{label}", image, crop, pts, box)
            add(f"face/net/{label}", crop, crop)
        model_dir = modules / "@vladmandic" / "face-api" / "model"
        node = run_node(work, job, NODE_SCRIPT, modules, args.backend, str(model_dir))
        if node is None:
            return 1
        report = compare(node, ours)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_input(work: Path, job: list[dict], name: str, arr: np.ndarray, **fields) -> None:
    """Save `arr`'s raw bytes in `work` and add its entry (name, file, dtype, shape, fields) to `job`."""
    arr = np.ascontiguousarray(arr)
    (work / f"{len(job)}.raw").write_bytes(arr.tobytes())
    job.append({"name": name, "file": f"{len(job)}.raw", "dtype": str(arr.dtype), "shape": list(arr.shape), **fields})


def run_node(work: Path, job: list[dict], script: str, modules: Path, *args: str) -> list[dict] | None:
    """Write job.json and the script into `work`, run `node script work *args` with `modules` on its path,
    and return what it wrote to out.json (None, after printing its output, when it failed)."""
    (work / "job.json").write_text(json.dumps(job))
    (work / "run.js").write_text(script)
    env = {"NODE_PATH": str(modules), "PATH": str(Path(shutil.which("node")).parent)}
    res = subprocess.run(["node", str(work / "run.js"), str(work), *args], env=env, capture_output=True, text=True)
    if res.returncode:
        print(res.stdout + res.stderr)
        return None
    print(res.stdout.strip().splitlines()[-1])
    return json.loads((work / "out.json").read_text())


def compare(node: list[dict], ours: dict[str, tuple]) -> list[dict]:
    """Print, per input, the largest difference of node's probabilities and logits from ours[name] =
    (logits, probabilities, box) and whether the crop boxes agree; return the rows for --json."""
    report, worst, worst_z, boxes_differ = [], 0.0, 0.0, 0
    print(f"{'input':<30} {'max |Δ prob|':>12} {'max |Δ logit|':>13}  box (numpy / node)  top")
    for r in node:
        z, p, box = ours[r["name"]]
        d = float(np.abs(p - np.asarray(r["probabilities"])).max())
        dz = float(np.abs(z - np.asarray(r["logits"])).max())
        worst, worst_z = max(worst, d), max(worst_z, dz)
        same_box = box is None or r.get("box") is None or list(box) == r["box"]
        boxes_differ += not same_box
        boxes = "same" if same_box else f"{box} / {r['box']}"
        print(f"{r['name']:<30} {d:12.2e} {dz:13.2e}  {boxes:<18}  {EXPRESSIONS[int(np.argmax(p))]}")
        report.append({"name": r["name"], "numpy": p.tolist(), "node": r["probabilities"],
                       "numpy_logits": z.tolist(), "node_logits": r["logits"],
                       "box": None if box is None else list(box), "node_box": r.get("box")})
    print(f"over {len(node)} inputs: max abs difference {worst:.2e} in probability, {worst_z:.2e} in logits; "
          f"{boxes_differ} crop boxes differ")
    return report


if __name__ == "__main__":
    sys.exit(main())
