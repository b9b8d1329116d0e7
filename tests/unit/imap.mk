# tests/unit: filled in by its component
