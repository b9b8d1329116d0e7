# modules/storage_sqlite: filled in by its component
