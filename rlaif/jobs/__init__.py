"""Running jobs over files: the resumable local runner, its output file (lock, validated resume), the pipeline."""
