"""Jobs built on the pipeline: analyze, bench, demo, doctor, evaluate."""
