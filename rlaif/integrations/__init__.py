"""Judge rewards inside other training stacks (TRL reward functions, OpenRLHF)."""
