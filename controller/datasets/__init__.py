"""Datasets: the pure, streaming core of `genaiops data` (validate, convert, split, stats, content hash).

Tuning data sits beside the manifests: a `Dataset` manifest names a JSONL file, whose content hash
(`hashing.content_hash`) is its version, and whose examples must be in the Gemini supervised-tuning format
(`sft.py`) before a `TuningJob` may use it. Every function here reads a file line by line and keeps only
counters, so a 1 GB file runs in bounded memory. No Google client and no click: the CLI
(`controller/cli/data_cmd.py`) parses options, calls these and prints.
"""
