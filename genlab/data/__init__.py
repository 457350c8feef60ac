"""Data: loading (JSONL/CSV/Parquet/hub), splits, hygiene, mixtures and the built-in generators."""

from genlab.data.hygiene import ContaminationReport, DuplicateReport, contamination, dedupe, normalize
from genlab.data.loading import BadRow, Loaded, load_file, load_hub, parse_hub_spec
from genlab.data.mixture import MixtureSource, mix, mixture_rates
from genlab.data.rows import Row, where_of
from genlab.data.splits import split_rows, split_sizes

__all__ = ["BadRow", "ContaminationReport", "DuplicateReport", "Loaded", "MixtureSource", "Row", "contamination", "dedupe",
           "load_file", "load_hub", "mix", "mixture_rates", "normalize", "parse_hub_spec", "split_rows",
           "split_sizes", "where_of"]
