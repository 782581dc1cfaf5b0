"""Running jobs: specs, the job-kind table, the one resumable runner with its file store, the pipeline."""
