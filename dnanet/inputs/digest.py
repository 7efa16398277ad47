"""Fingerprints of inputs: a file's SHA-256 (provenance in model.json, store names) and the digest
of a JSON-able description (what identifies generated or in-memory records)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (as stored, compressed or not), for provenance in model.json."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def digest(data: dict) -> str:
    """SHA-256 of `data` as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
