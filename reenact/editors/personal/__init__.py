"""The personal exemplar bank: a training-free editor that answers with the person's own frames.

    reenact enroll --video me.mp4 -o engines/me        # track, align, read and store the frames
    reenact video in.mp4 -o out.mp4 --editor personal:engines/me --target-au happy

An enrolment folder engines/NAME/ holds what `reenact enroll` wrote (`reenact train` adds the refiner
of `neural:engines/NAME` beside it):
  bank.npz, bank.json   the frames (aligned crops and meshes) and their manifest with its sha256
  coverage.txt          which AUs the footage shows, at which intensities, and what to record next
  .gitignore            `*`: a model of someone's face is never committed

bank       the stored frames and what retrieval reads from them (canonical mesh, pose, AUs)
coverage   the coverage report
regions    brows, eyes and mouth: their AUs and where they are on the face
retrieve   nearest frames per region, and the cross-fade that keeps them steady in time
texture    the frames unwarped into one shared template, and the warps in and out of it
editor     `personal`: the mesh moved as the person's own frames move, repainted from them
"""
from __future__ import annotations

import os
from pathlib import Path

from ...engines.manifest import model_folder
from ...errors import InputNotFound

GRAPH = "personal"
BANK_FILE = "bank.npz"
BANK_META = "bank.json"
COVERAGE_FILE = "coverage.txt"
# bump when what bank.npz holds changes: older banks are refused
BANK_FORMAT = 1
# a model of someone's face: nothing in its folder is ever committed
GITIGNORE = "# a personal model (someone's face): never committed\n*\n"


def enroll_hint(directory: str | os.PathLike) -> str:
    return f"enrol with `reenact enroll --video YOURS.mp4 -o {directory} --replace`"


def bank_dir(spec: str | os.PathLike) -> Path:
    """'engines/NAME' as given, else NAME inside the engines directory; InputNotFound if neither holds a bank."""
    found = model_folder(spec, BANK_META)
    if found is None:
        raise InputNotFound(f"no enrolment ({BANK_META}); {enroll_hint(spec)}", str(spec))
    return found
