"""The LSTM and transformer families: long sequences (chunk and pool), padding, pooling,
gradients."""

import pytest
import torch

from dnanet.inputs.encode import PAD, sequences_to_codes
from dnanet.models.lstm import LSTM
from dnanet.models.token_windows import split_windows
from dnanet.models.transformer import Transformer, fastpath_disabled

MAX_LEN = 8


def tiny_transformer(**arguments) -> Transformer:
    """A small transformer whose tokens are single bases (stem_pool 1), so max_len counts bases."""
    torch.manual_seed(0)
    settings = dict(
        d_model=16, heads=2, layers=1, ff_dim=32, stem_kernel=5, stem_pool=1, max_len=MAX_LEN
    )
    return Transformer(n_outputs=2, **{**settings, **arguments}).eval()


def tiny_lstm(**arguments) -> LSTM:
    torch.manual_seed(0)
    settings = dict(conv_channels=8, conv_kernel=5, pool=2, lstm_size=8, hidden=16)
    return LSTM(n_outputs=2, **{**settings, **arguments}).eval()


def codes_of(*sequences: str) -> torch.Tensor:
    return torch.from_numpy(sequences_to_codes([s.encode() for s in sequences])[0])


def random_dna(length: int, seed: int) -> str:
    generator = torch.Generator().manual_seed(seed)
    return "".join("ACGT"[i] for i in torch.randint(0, 4, (length,), generator=generator))


def windowed_reference(model: Transformer, codes: torch.Tensor, overlap: int) -> torch.Tensor:
    """Chunk and pool written out: encode each window on its own, average weighted by length."""
    tokens, mask = model.tokens(codes)  # (1, T, d), (1, T)
    length, step = tokens.shape[1], MAX_LEN - overlap
    starts = range(0, max(length - overlap, 1), step)
    vectors = [
        model.encode_windows(tokens[:, s : s + MAX_LEN], mask[:, s : s + MAX_LEN]) for s in starts
    ]
    weights = torch.tensor(
        [min(s + MAX_LEN, length) - s for s in starts], dtype=torch.float32, device=tokens.device
    )
    return (torch.cat(vectors) * weights[:, None]).sum(0, keepdim=True) / weights.sum()


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("overlap", [0, 3])
def test_long_sequence_is_chunked_and_pooled(pooling, overlap, device):
    model = tiny_transformer(pooling=pooling, overlap=overlap).to(device)
    codes = codes_of(random_dna(3 * MAX_LEN + 7, seed=1)).to(device)  # 4 windows without overlap
    with torch.no_grad():
        embedding = model.embed(codes).cpu()
        expected = windowed_reference(model, codes, overlap).cpu()
    assert embedding.shape == (1, 16) and torch.isfinite(embedding).all()
    torch.testing.assert_close(embedding, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "encoder", [{"encoder": "onehot"}, {"encoder": "kmer", "k": 3, "kmer_dim": 8}]
)
def test_long_sequence_does_not_depend_on_batch_padding(encoder, device):
    model = tiny_transformer(overlap=2, **encoder).to(device)
    sequences = [random_dna(n, seed=n) for n in (5, MAX_LEN + 1, 3 * MAX_LEN + 7, 5 * MAX_LEN)]
    with torch.no_grad():
        together = model(codes_of(*sequences).to(device)).cpu()
        alone = torch.cat([model(codes_of(s).to(device)).cpu() for s in sequences])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_windows_weigh_only_new_tokens_of_each_sequence():
    tokens, mask = torch.zeros(2, 10, 1), torch.arange(10) < torch.tensor([[10], [4]])
    windows, masks, weights = split_windows(tokens, mask, size=4, overlap=1)  # starts 0, 3, 6
    assert windows.shape == (2, 3, 4, 1) and masks.shape == (2, 3, 4)
    assert weights.tolist() == [
        [4, 4, 4],
        [4, 0, 0],
    ]  # the short row's 2nd window only repeats token 3


def test_too_short_and_unknown_sequences_give_finite_embeddings(device):
    model = tiny_transformer(encoder="kmer", k=4, kmer_dim=8, pooling="mean").to(device)
    with torch.no_grad():
        embedding = model.embed(
            codes_of("AC", "NNNNNN", "ACGTAC").to(device)
        ).cpu()  # "AC" has no 4-mer at all
    assert torch.isfinite(embedding).all()


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("length", [5, 3 * MAX_LEN + 7])
def test_cls_and_mean_pooling_shapes(pooling, length, device):
    model = tiny_transformer(pooling=pooling, stem_pool=2).to(device)
    codes = codes_of(*(random_dna(length, seed=s) for s in range(3))).to(device)
    with torch.no_grad():
        assert model.embed(codes).shape == (3, model.embedding_dim) == (3, 16)
        assert model(codes).shape == (3, 2)


@pytest.mark.parametrize("conv_channels", [0, 8])
def test_lstm_ignores_padding(conv_channels, device):
    model = tiny_lstm(conv_channels=conv_channels).to(device)
    codes = codes_of(random_dna(21, seed=3))  # (1, 21)
    padded = torch.cat([codes, torch.full((1, 30), PAD, dtype=codes.dtype)], dim=1)  # (1, 51)
    with torch.no_grad():
        torch.testing.assert_close(
            model.embed(padded.to(device)).cpu(),
            model.embed(codes.to(device)).cpu(),
            rtol=1e-6,
            atol=1e-6,
        )
        states = model.read(
            torch.randn(2, 6, 8 if conv_channels else 4).to(device),
            (torch.arange(6) < torch.tensor([[6], [2]])).to(device),
        ).cpu()
    assert states[1, 2:].abs().sum() == 0  # no state past a row's end


@pytest.mark.parametrize(
    "build",
    [
        lambda: tiny_lstm(),
        lambda: tiny_lstm(encoder="kmer", k=3, kmer_dim=8, layers=2),
        lambda: tiny_transformer(pooling="cls"),
        lambda: tiny_transformer(
            pooling="mean", positions="sinusoidal", encoder="kmer", k=3, kmer_dim=8
        ),
    ],
    ids=["lstm", "lstm-kmer", "transformer-cls", "transformer-mean-kmer"],
)
def test_one_training_step_reaches_every_parameter(build, device):
    model = build().to(device).train()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    codes = codes_of(*(random_dna(n, seed=n) for n in (12, 30, 3 * MAX_LEN + 7))).to(device)
    loss = torch.nn.functional.cross_entropy(model(codes), torch.tensor([0, 1, 1], device=device))
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name
    optimizer.step()
    assert all(not torch.equal(p, before[name]) for name, p in model.named_parameters())


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"pooling": "max"}, "unknown pooling 'max'; valid: cls, mean"),
        ({"positions": "rotary"}, "unknown positions 'rotary'"),
        ({"d_model": 10, "heads": 4}, r"d_model \(10\) must be a multiple of heads \(4\)"),
        ({"overlap": MAX_LEN}, "overlap"),
    ],
)
def test_bad_transformer_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        tiny_transformer(**arguments)


def test_fastpath_setting_is_restored():
    before = torch.backends.mha.get_fastpath_enabled()
    with fastpath_disabled():
        assert not torch.backends.mha.get_fastpath_enabled()
    assert torch.backends.mha.get_fastpath_enabled() == before


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_attention_weights_are_per_layer_and_head_and_ignore_padding(pooling):
    model = tiny_transformer(pooling=pooling, layers=2)
    codes = codes_of(random_dna(MAX_LEN, seed=3), random_dna(5, seed=4))  # the second row is padded
    with torch.no_grad():
        tokens, mask = model.tokens(codes)  # (2, T, d), (2, T)
        maps, keys = model.attention_weights(tokens, mask)
    width = MAX_LEN + (pooling == "cls")
    assert len(maps) == 2 and all(
        m.shape == (2, 2, width, width) for m in maps
    )  # layers; (B, heads, t', t')
    assert keys.shape == (2, width) and int(keys[1].sum()) == 5 + (pooling == "cls")
    for weights in maps:  # each query's weights are a distribution over the valid keys only
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, width))
        assert (weights[1][..., ~keys[1]] == 0).all() and (weights[1][..., keys[1]] > 0).all()
