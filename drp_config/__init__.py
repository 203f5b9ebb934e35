"""YAML overlays, test instrument profiles and example files of the numina integration."""
