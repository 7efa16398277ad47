"""Every input kind a command accepts, read and validated at the boundary.

A *source* is what one input argument names (`sources`): a FASTA file (`read`), BED /
narrowPeak intervals cut from a genome (`bed`, `genome`, `interval_source`) or a generated
background (`backgrounds`, `background_windows`, `shuffle`). Record ids are checked in
`record_ids`; `encode` turns letters into the one tensor layout of dnanet (codes, one-hot, k-mers).
"""
