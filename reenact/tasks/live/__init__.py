"""Live studio: a live run with a handle on it (session), a local control panel in the browser (panel),
and the live latency benchmark (bench)."""
