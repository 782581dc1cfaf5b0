"""Data in and out: input sources, row normalisation, and rlaif's own record files."""

from rlaif.core.text import flatten_messages
from rlaif.data.normalise import normalise_row, normalise_single
from rlaif.data.records import read_records, to_json_line, write_atomic
from rlaif.data.sources import LoadResult, iter_source_rows, load_pairs, records_from_rows

__all__ = ["LoadResult", "flatten_messages", "iter_source_rows", "load_pairs", "normalise_row", "normalise_single",
           "read_records", "records_from_rows", "to_json_line", "write_atomic"]
