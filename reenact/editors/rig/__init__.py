"""The rig editor's machinery (reenact.editors.rig puts it together).

mesh       fixed topology: MediaPipe's triangles oriented, the pinned border ring, eye and mouth holes
basis      per-AU displacement fields in the canonical frame, from configs/rig_basis.yaml
solve      AU change → per-side basis coefficients
deform     coefficients → moved mesh → dense backward flow, with the eyes and mouth as layers
flow       the scanline rasteriser, fold limiting and the warp (the engines' warp_blend convention)
memory     the per-person texture memory (real mouths and eyes seen earlier in the video)
mouth      the mouth's fill, with lips (sealing) and teeth (teeth, gums, tongue, throat)
eyes       the eyes' fill; fills: helpers both share (skin tone, light, coverage)
appearance creases, bulges and folds per AU as a ratio image (configs/appearance.yaml), carried with the skin
calibrate  `python -m reenact.editors.rig.calibrate`: gains against real motion on the shared clips
"""
