"""Where and how the work runs: the device's numeric precision, CPU threads, and many
processes under torchrun (ranks, per-process batches, output written in parts and joined once).
"""
