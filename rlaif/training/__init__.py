"""Training from labels: losses, trainable model loading, the distilled reward model and DPO."""
