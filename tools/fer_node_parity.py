"""Dev check: the numpy fer judge against @vladmandic/human 3.3.6 itself, in node, with pure-JS tfjs (cpu).

Not part of the test suite (CI has no node). It installs @vladmandic/human with @tensorflow/tfjs 4.22
into a temporary folder through npm (or uses --node-modules DIR) and compares, on the shared faces:
  tensor     a synthetic 64×64 grey input: the emotion net alone (numpy graph.py vs tfjs's GraphModel);
  net/FACE   our prepared input of each face, fed to the same tfjs GraphModel;
  crop/FACE  the image and our crop box, cut with human's own tfjs ops (cropAndResize to 192, /255,
             resizeBilinear to 64, grey weights, (g − 0.5) · 2), then the net: the whole crop chain;
  human/FACE the whole of human.detect() (its BlazeFace, its crop, its net) against our judge with our
             tracker's mesh; human reports scores truncated to 2 decimals, so ours are truncated too, and
             the box human cropped (recorded from its cropAndResize call) is compared with ours.
Run: python tools/fer_node_parity.py [--media ../shared/media] [--node-modules DIR] [--json out.json]
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))   # judge_gallery; it puts this checkout first
from judge_gallery import shared_faces  # noqa: E402
from judge_node_parity import TFJS_VERSION, arg_parser, compare, install, run_node, write_input  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))   # the inputs the tests pin
from judge_inputs import synthetic_grey  # noqa: E402

from reenact.judge import EXPRESSIONS, FerJudge  # noqa: E402
from reenact.judge.fer import CLASSES  # noqa: E402
from reenact.judge.weights import HUMAN_PACKAGE, HUMAN_VERSION, WEIGHTS_DIR  # noqa: E402

# human's names for the net's classes (its `annotations`), in the net's order
HUMAN_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

NODE_SCRIPT = r"""
const fs = require('fs'); const http = require('http'); const path = require('path');
const [dir, weights, modules] = process.argv.slice(2);
const tf = require('@tensorflow/tfjs');
const Human = require(path.join(modules, '@vladmandic/human/dist/human.node-wasm.js'));
const CLASSES = %s, NAMES = %s, LABELS = %s;   // the net's order; EXPRESSIONS' order; human's labels
const crops = [];
const cropAndResize = tf.image.cropAndResize;   // record the box human cuts its face from (192², once per face)
tf.image.cropAndResize = function (img, boxes, ind, size, ...rest) {
  if (size[0] === 192) crops.push(Array.from(boxes.dataSync ? boxes.dataSync() : boxes.flat()));
  return cropAndResize.call(this, img, boxes, ind, size, ...rest);
};
const reorder = (v) => NAMES.map((n) => v[CLASSES.indexOf(n)]);
(async () => {
  await tf.setBackend('cpu'); await tf.ready();
  const spec = JSON.parse(fs.readFileSync(weights + '/emotion.json', 'utf8'));
  const bin = fs.readFileSync(weights + '/emotion.bin');
  const net = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: spec.modelTopology,
    weightSpecs: spec.weightsManifest[0].weights, weightData: new Uint8Array(bin).buffer }));
  const logitsNode = spec.modelTopology.node.find((n) => n.op === 'Softmax').input[0];
  const server = http.createServer((req, res) => fs.readFile(path.join(modules, '@vladmandic/human/models',
    decodeURIComponent(req.url.split('?')[0])), (err, data) => { res.statusCode = err ? 404 : 200; res.end(data); }));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const human = new Human.Human({ backend: 'cpu', modelBasePath: `http://127.0.0.1:${server.address().port}/`,
    cacheSensitivity: 0, debug: false, face: { emotion: { minConfidence: 0 }, description: { enabled: false } },
    body: { enabled: false }, hand: { enabled: false }, object: { enabled: false }, gesture: { enabled: false },
    segmentation: { enabled: false } });
  await human.load();
  const job = JSON.parse(fs.readFileSync(dir + '/job.json', 'utf8'));
  const out = [];
  for (const item of job) {
    const buf = fs.readFileSync(dir + '/' + item.file);
    const values = item.dtype === 'float32'
      ? new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4) : Float32Array.from(buf);
    const t = tf.tensor4d(values, [1, ...item.shape]);
    if (item.kind === 'human') {
      crops.length = 0;
      const f = (await human.detect(t)).face[0];
      const scores = Object.fromEntries((f ? f.emotion : []).map((e) => [e.emotion, e.score]));
      const [y1, x1, y2, x2] = crops[0] || [0, 0, 0, 0];
      const [h, w] = item.shape;
      const [left, top] = [Math.round(x1 * w), Math.round(y1 * h)];
      const box = [left, top, Math.round(x2 * w) - left, Math.round(y2 * h) - top];
      const probabilities = NAMES.map((n) => scores[LABELS[CLASSES.indexOf(n)]] ?? null);
      out.push({ name: item.name, probabilities, logits: [], box });
    } else {
      let x = t;
      if (item.kind === 'crop') {     // human's emotion input, its own ops, from our box
        const [h, w] = item.shape; const [bx, by, bw, bh] = item.box;
        const cutBox = [[by / h, bx / w, (by + bh) / h, (bx + bw) / w]];
        const cut = tf.div(tf.image.cropAndResize(t, cutBox, [0], [192, 192]), 255);
        const small = tf.image.resizeBilinear(cut, [64, 64], false);
        const grey = tf.sum(tf.mul(small, tf.tensor1d([0.2989, 0.5870, 0.1140])), 3, true);
        x = tf.mul(tf.sub(grey, 0.5), 2);
      }
      const [p, z] = net.execute(x, ['Identity', logitsNode]);
      out.push({ name: item.name, probabilities: reorder(Array.from(p.dataSync())),
                 logits: reorder(Array.from(z.dataSync())) });
    }
  }
  fs.writeFileSync(dir + '/out.json', JSON.stringify(out));
  server.close();
  console.log(`node ${process.version}, tfjs ${tf.version.tfjs}, human ${human.version}, backend ${tf.getBackend()}`);
})().catch((e) => { console.error(e); process.exit(1); });
""" % (json.dumps(list(CLASSES)), json.dumps(list(EXPRESSIONS)), json.dumps(HUMAN_LABELS))


def truncated(p: np.ndarray) -> np.ndarray:
    """Human's reported score: min(0.99, trunc(100 p) / 100)."""
    return np.minimum(0.99, np.trunc(100 * np.asarray(p, np.float64)) / 100)


def main() -> int:
    args = arg_parser(__doc__, "human and tfjs").parse_args()
    if not shutil.which("node"):
        print("node is not on PATH")
        return 2
    work = Path(tempfile.mkdtemp(prefix="fer_parity_"))
    judge = FerJudge()
    try:
        modules = Path(args.node_modules) if args.node_modules else install(
            work, [f"{HUMAN_PACKAGE}@{HUMAN_VERSION}", f"@tensorflow/tfjs@{TFJS_VERSION}",
                   f"@tensorflow/tfjs-backend-wasm@{TFJS_VERSION}"])
        job, ours, human_ours, times = [], {}, {}, []

        def add(name: str, kind: str, arr: np.ndarray, net_input: np.ndarray, box=None) -> None:
            write_input(work, job, name, arr, kind=kind, box=None if box is None else list(box))
            ours[name] = (judge.logits(net_input[None])[0], judge.probabilities(net_input[None])[0], None)

        x = synthetic_grey()
        add("tensor/synthetic", "net", x, x)
        for label, image, mesh in shared_faces(Path(args.media)):
            start = time.perf_counter()
            verdict = judge.judge(image, mesh)
            times.append(time.perf_counter() - start)
            crop, box = judge.prepare(image, mesh)
            add(f"net/{label}", "net", crop, crop)
            add(f"crop/{label}", "crop", image, crop, box)
            write_input(work, job, f"human/{label}", image, kind="human")
            human_ours[f"human/{label}"] = verdict
        node = run_node(work, job, NODE_SCRIPT, modules, str(WEIGHTS_DIR), str(modules))
        if node is None:
            return 1
        report = compare([r for r in node if r["name"] in ours], ours)
        print("\nthe whole of human.detect() vs our judge (scores truncated to 2 decimals as human reports them)")
        worst, agree, same_box = 0.0, 0, 0
        for r in (r for r in node if r["name"] in human_ours):
            v = human_ours[r["name"]]
            theirs = np.array([np.nan if p is None else p for p in r["probabilities"]])
            d = float(np.nanmax(np.abs(truncated(v.probabilities) - theirs)))
            top = EXPRESSIONS[int(np.nanargmax(theirs))]
            worst, agree, same_box = max(worst, d), agree + (top == v.top), same_box + (list(v.box) == r["box"])
            print(f"{r['name']:<30} {d:5.2f}  human {top:<9} ours {v.top:<9}  box human {r['box']} ours {list(v.box)}")
            report.append({"name": r["name"], "numpy": list(v.probabilities), "node": r["probabilities"],
                           "box": list(v.box), "node_box": r["box"]})
        print(f"over {len(human_ours)} faces: max |Δ score| {worst:.2f}, top class agrees on {agree}, "
              f"the same crop box on {same_box}")
        print(f"our judge: median {1000 * float(np.median(times)):.0f} ms per face (detector, crop and net)")
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
