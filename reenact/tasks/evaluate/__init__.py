"""Quality measurements of editors, as `reenact eval` reports them.

    from reenact.tasks import evaluate
    rows = evaluate.expression_eval("rig", images=["astronaut.png"], video="talking_man.mp4", save="out/eval")
    print(evaluate.markdown_table(rows))
    rows = evaluate.reconstruction_eval("talking_man.mp4", ["rig", "personal:engines/NAME", "neural:engines/NAME"])

Expression eval (issue 4): each preset on each still, and on a clip's frames, through the full pipeline
(`api.build_pipeline`, so any editor), read back with the package's own tracker and AU estimator:
  au_error         mean over the preset's AUs of |reading on the output − intended|; intended is what the
                   edit asked: `Target.resolve` of the input's reading at the config's mode and strength,
                   clipped to 0–5 (the estimator reads no further)
  unedited_change  mean over the other AUs of |reading on the output − reading on the input|
  face_ssim        SSIM to the input (Wang et al. 2004: Gaussian 11×11, σ 1.5, on BT.601 luma), averaged
                   over the face region: where the compositor's hull mask is ≥ 0.5
  background_psnr  PSNR to the input outside the hull mask's support, where no edit may reach
                   (inf, shown "exact", when bit-exact)
  flicker_added    clips: mean |Δ luma| between consecutive frames in the face region, output minus input
  identity         dlib face-descriptor distance input → output (dlib calls < 0.6 the same person; on a
                   clip, the mean over frames ¼, ½ and ¾ in); None without dlib (`reenact[eval]`)
  speech_r         clips: the least Pearson correlation, over AU25 and AU26, of the output's readings
                   with the input's (speech stays visible under a whole-face preset)
  judge_*          the independent expression judge (reenact.judge) on the input and the output: P(the
                   preset's emotion) before, after, the gain, the top class after, and `recognised`: yes
                   or no, or "already" when the input's top class was the asked one (the pair does not
                   count; see recognition.summary). A clip is judged on frames ¼, ½ and ¾ in (mean).
  fer_*            the second judge ("fer": @vladmandic/human's FER2013 emotion net, behind human's own
                   face box) the same way: its gain, top class after and verdict; it decides for itself
                   which pairs count. Two unrelated classifiers, so no editor is tuned to one's quirks.
A still is read against the still prior, as the pipeline reads it. A clip is read against one
neutral for the whole clip (the estimator's resting-side percentile over all its frames): a running
baseline would absorb a steady relative edit and read it back as no change.

Reconstruction eval (issues 6, 14): a clip split by time, the first TRAIN_FRACTION for training (or
explicit test frames, e.g. smile_man.mp4's 41–65); a seeded set of (source, target) pairs of held-out
frames; each editor gets the source crop with source AUs = the source's reading and target AUs = the
target's (absolute), and its output, blended as the compositor blends it, is compared with the target
crop in the target's face region and in its mouth region (the lips' hull grown by 7 px): PSNR, SSIM, L1
(grey levels), AU error (mean over all AUs of |reading on the output − target|) and identity distance
to the target. Two control rows come first: "no edit" returns the source as is, "blur control" the
source blurred by σ 0.8 px (what smoothing alone gains). Every AU here is read the same way: the
tracker on the 256² crop, against the held-out frames' neutral. `transfer_eval` scores chosen source
frames edited to chosen target frames (neutral to a smile the enrolment left out).
"""
from .drivers import (BLUR, BLUR_SIGMA, NO_EDIT, STILLS, TRAIN_FRACTION, expression_eval, held_out_faces,
                      held_out_start, load_still, reconstruction_eval, sample_pairs, split_frame, transfer_eval)
from .identity import IdentityModel
from .recognition import JUDGE_CLASS, Recognition, recognition, summary
from .metrics import au_errors, face_masks, flicker, l1, luma, psnr, ssim, ssim_map
from .report import ExpressionRow, ReconstructionRow, markdown_table, side_by_side, write_csv

__all__ = ["BLUR", "BLUR_SIGMA", "NO_EDIT", "STILLS", "TRAIN_FRACTION", "expression_eval", "held_out_faces",
           "held_out_start", "load_still", "reconstruction_eval", "sample_pairs", "split_frame", "transfer_eval",
           "JUDGE_CLASS", "Recognition", "recognition", "summary", "IdentityModel", "au_errors", "face_masks",
           "flicker", "l1", "luma", "psnr", "ssim", "ssim_map", "ExpressionRow", "ReconstructionRow", "markdown_table",
           "side_by_side", "write_csv"]
