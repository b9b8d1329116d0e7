# tests/storage: filled in by its component
