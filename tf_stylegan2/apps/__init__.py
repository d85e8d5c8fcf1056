"""Logic of the command-line apps (`run_generator.py`, `run_projector.py`, the converter)."""
