"""`dnanet crn export|verify`: a trained ternary_mlp as a chemical reaction network (JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import typer

from dnanet.cli.common import app, err, out_console, parse_inputs, user_errors
from dnanet.errors import DnanetError

crn_app = typer.Typer(help="Compile a trained ternary_mlp into a chemical reaction network and check it.",
                      no_args_is_help=True)
app.add_typer(crn_app, name="crn")


def _load_ternary(run: Path):
    import torch

    from dnanet.models.ternary_mlp import TernaryMLP
    from dnanet.runs import load_run

    model, description = load_run(run, "cpu")
    if not isinstance(model, TernaryMLP):
        raise DnanetError(f"{run}: a {description['model']['name']} model; only ternary_mlp runs compile to a "
                          "reaction network (train one with --model ternary_mlp)")
    return model.to(torch.float64), description["classes"]


@crn_app.command("export")
@user_errors
def export(
    run: Path = typer.Argument(..., help="A run folder made by `dnanet train --model ternary_mlp`."),
    out: Path = typer.Option(..., "--out", "-o", help="The network as JSON (species, reactions, initial, inputs, "
                             "outputs, features)."),
    reduce: bool = typer.Option(False, "--reduce", help="Drop reactions and species that cannot reach an output."),
    text: bool = typer.Option(False, "--text", help="Also print the reactions, one per line, on stdout."),
):
    """Write the reaction network computing RUN's forward pass (inputs: k-mer frequencies).

      dnanet crn export runs/ternary --out net.json --reduce --text
    """
    from dnanet.crn import compile_network, network_text, reduce_network
    from dnanet.runs import atomic_file

    model, classes = _load_ternary(run)
    network = compile_network(model, classes)
    if reduce:
        network = reduce_network(network)
    with atomic_file(out) as temporary:
        temporary.write_text(json.dumps(network, indent=1) + "\n", encoding="utf-8")
    if text:
        out_console.print(network_text(network), end="", highlight=False, markup=False, soft_wrap=True)
    err.print(f"{len(network['reactions'])} reactions over {len(network['species'])} species written to {out}",
              highlight=False)


@crn_app.command("verify")
@user_errors
def verify(
    network_path: Path = typer.Argument(..., metavar="NET.json", help="A network written by `dnanet crn export`."),
    run: Path = typer.Argument(..., help="The run it was compiled from."),
    inputs: List[str] = typer.Argument(None, help="FASTA files to check on (default: the bundled CTCF held-out "
                                       "files).", show_default=False),
    sequences: int = typer.Option(20, min=1, help="Records checked by firing reactions in order (tolerance 1e-9)."),
    ode: int = typer.Option(3, min=0, help="Of those, records also checked by an ODE steady state (tolerance 1e-3)."),
):
    """Check that NET.json computes RUN's outputs: firing each reaction to completion in order
    (within 1e-9), and mass-action kinetics integrated to a steady state (within 1e-3).

      dnanet crn verify net.json runs/ternary
    """
    import numpy as np
    import torch

    from dnanet.crn import verify_network
    from dnanet.data import iter_batches
    from dnanet.encode import PAD
    from dnanet.examples import heldout_inputs

    try:
        network = json.loads(network_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DnanetError(f"{network_path}: not JSON ({error.msg}, line {error.lineno})") from None
    model, _ = _load_ternary(run)
    codes = []
    for batch in iter_batches([item.path for item in parse_inputs(inputs, heldout_inputs)], 256):
        codes += list(batch.codes)
        if len(codes) >= sequences:
            break
    chosen = codes[:sequences]
    width = max(len(c) for c in chosen)
    padded = torch.from_numpy(np.stack([np.pad(c, (0, width - len(c)), constant_values=PAD) for c in chosen]))
    ordered, kinetic = verify_network(network, model, padded, ode)
    out_console.print(f"{len(chosen)} records: largest |difference| firing in order {ordered:.2e} (tolerance 1e-9); "
                      f"ODE steady state on {min(ode, len(chosen))}: {kinetic:.2e} (tolerance 1e-3)", highlight=False)
    if not ordered <= 1e-9 or not kinetic <= 1e-3:
        raise DnanetError(f"{network_path} does not reproduce {run}'s outputs within the tolerances")
