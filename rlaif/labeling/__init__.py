"""Judging: constitutions and prompt templates (data behind one loader), the pairwise labeler and the 1-10 scorer."""
