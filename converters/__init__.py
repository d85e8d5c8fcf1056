"""Command-line converters (`python -m converters.convert_pkl`)."""
