"""Reports a scientist opens: the HTML page (`page`, `html`) and its figures (`figures`, `plots`)."""
