"""How dnanet writes and reads its own files safely.

- `outputs`: every file or folder a command writes goes through `Output` (written under a temporary
  name and swapped into place, so nothing is ever half-written; the overwrite rule; locks).
- `json_files`: small JSON files read without trusting them (size-limited regular files only).
"""
