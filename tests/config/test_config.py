"""Config loading: shipped files, overrides, and errors that name the key."""

from pathlib import Path

import pytest

from dnanet.config.run_config import Config, load_config, shipped_config_path
from dnanet.errors import DnanetError
from dnanet.models import MODELS, model_arguments

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", list(MODELS))
def test_shipped_config_is_complete(name):
    """Each configs/<model>.yaml names every key, so a user sees every setting in one file."""
    import yaml

    data = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    defaults = Config().to_dict()
    for section in ("encoder", "data", "train"):
        assert set(data[section]) == set(defaults[section]), section
    assert set(data["model"]) == {"name", *model_arguments(name)}
    assert shipped_config_path(name).read_text() == (CONFIGS / f"{name}.yaml").read_text()


def test_flags_override_config():
    config = load_config(epochs=3, seed=7, batch_size=16, lr=0.01)
    assert (config.train.epochs, config.seed, config.train.batch_size, config.train.lr) == (
        3,
        7,
        16,
        0.01,
    )
    assert config.model["name"] == "cnn"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_partial_config_fills_defaults_and_reads_exponents(tmp_path):
    config = load_config(
        write(tmp_path, "train:\n  lr: 1e-4\nmodel:\n  name: cnn\n  channels: 32\n")
    )
    assert (
        config.train.lr == 1e-4 and config.model["channels"] == 32 and config.model["kernel"] == 5
    )


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "trian:\n  epochs: 3\n",
            r"unknown key 'trian'; valid keys: seed, encoder, data, model, train",
        ),
        (
            "train:\n  epoch: 3\n",
            r"unknown key 'train.epoch'; valid keys in 'train': "
            r"epochs, steps_per_epoch, batch_size",
        ),
        ("train:\n  epochs: ten\n", r"'train.epochs' must be an integer, got 'ten'"),
        (
            "train:\n  reverse_complement: 3\n",
            r"'train.reverse_complement' must be one of auto, true, false, got 3",
        ),
        (
            "model:\n  name: cnn\n  chanels: 3\n",
            r"unknown key 'model.chanels'; valid keys in 'model': name, kmer_dim, channels",
        ),
        ("model:\n  name: resnet\n", r"unknown model 'resnet' in 'model.name'; valid models: cnn"),
        ("encoder:\n  name: bpe\n", r"'encoder.name' must be one of onehot, kmer, got 'bpe'"),
        ("data:\n  test_fraction: 1.5\n", r"data.test_fraction must be between 0 and 1"),
        (
            "data:\n  split: genome\n",
            r"'data.split' must be one of random, chromosome, got 'genome'",
        ),
        (
            "data:\n  val_chroms: {chr8: 1}\n",
            r"'data.val_chroms' must be a list of names \(e.g. \[chr8, chr9\]\)",
        ),
        (
            "encoder:\n  name: kmer\n  k: 3\n  stride: 4\n",
            r"encoder.stride must not exceed encoder.k",
        ),
        ("train: [1, 2\n", r"line \d+: invalid YAML"),
        ("- 1\n- 2\n", r"a config must be a mapping"),
    ],
)
def test_bad_configs_name_the_key(tmp_path, text, message):
    with pytest.raises(DnanetError, match=message):
        load_config(write(tmp_path, text))


def test_unknown_model_flag_lists_valid_models():
    with pytest.raises(DnanetError, match="unknown model 'foo'; valid models: cnn"):
        load_config(model="foo")


def test_split_settings_read_lists_or_comma_separated_names_and_allow_a_zero_fraction(tmp_path):
    config = load_config(
        write(
            tmp_path, "data:\n  split: chromosome\n  val_chroms: [7, chr6]\n  test_fraction: 0\n"
        ),
        data={"test_chroms": "chr1, chr2", "keep_duplicates": True},
    )
    data = config.data
    assert (data.split, data.val_chroms, data.test_chroms, data.test_fraction) == (
        "chromosome",
        ("7", "chr6"),
        ("chr1", "chr2"),
        0.0,
    )
    assert data.keep_duplicates is True and Config().data.val_chroms == ("chr10",)


@pytest.mark.parametrize("name", ["cnn", "lstm", "transformer"])
def test_each_family_has_a_signal_config_that_differs_only_where_it_says(name):
    """configs/signal/<model>.yaml: what --signal runs start from; the same keys as the family's
    config, different only in the values its comments mark 'signal:'."""
    import yaml

    signal = yaml.safe_load((CONFIGS / "signal" / f"{name}.yaml").read_text())
    family = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    changed = {
        (section, key)
        for section in family
        if isinstance(family[section], dict)
        for key in family[section]
        if family[section][key] != signal[section][key]
    }
    marked = {("train", "reverse_complement")} | (
        {("model", "position_bins")} if family["model"].get("position_bins") else set()
    )
    assert changed == marked
    assert signal["train"]["reverse_complement"] is True
    assert shipped_config_path(name, signal=True) == CONFIGS / "signal" / f"{name}.yaml"
    load_config(shipped_config_path(name, signal=True))  # valid
