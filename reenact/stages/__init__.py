"""The pipeline's stages, in the order they run: tracker, aligner, AU estimator, targets, compositor."""
