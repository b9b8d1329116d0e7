# tests/fuzz: filled in by its component
