"""The pipeline's frame: types, stage contracts, runners, the latest-frame mailbox, smoothing."""
