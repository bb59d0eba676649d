"""The rig editor's machinery (reenact.editors.rig puts it together).

mesh      fixed topology: MediaPipe's triangles oriented, the pinned border ring, eye and mouth holes
basis     per-AU displacement fields in the canonical frame, from configs/rig_basis.yaml
solve     AU change → per-side basis coefficients
deform    coefficients → moved mesh → dense backward flow, with the eyes and mouth as layers
flow      the scanline rasteriser, fold limiting and the warp (the engines' warp_blend convention)
texture   procedural mouth/eye fills and the per-person texture memory
calibrate `python -m reenact.editors.rig.calibrate`: gains against real motion on the shared clips
"""
