"""Reports a scientist opens: the HTML page (`page`, `html`) and its figures (`figures`, `plots`);
a run scored on labelled inputs with its metrics and report folder (`evaluation`: `dnanet
evaluate`)."""
