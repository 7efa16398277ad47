"""A profile model recovers a known truth: coverage generated from planted CTCF sites whose PWM
scores set their rates (`dnanet.synthetic.coverage`), scored on a held-out chromosome against
the rates (`dnanet.synthetic.signal_truth`). scripts/signal_truth.py runs the same for every
family, larger; this is the CNN, small enough for the suite (about a minute and a half)."""

from __future__ import annotations

from dnanet.synthetic.signal_truth import check_signal_truth


def test_a_profile_cnn_recovers_the_rates_the_sites_and_the_variant_effects(tmp_path):
    scores = check_signal_truth(tmp_path, "cnn", peaks=400, epochs=8, threads=2)
    # the rates: close to the noise ceiling (the observed reads' own correlation with the rates)
    assert scores.ceiling > 0.95
    assert scores.pearson_truth > 0.75 and scores.pearson_truth > 0.8 * scores.ceiling
    # the profile's peak sits on the planted site
    assert scores.peak_offset_median <= 10 and scores.peak_within_10 >= 0.6
    # breaking a site lowers the predicted counts (at nearly every site, by at least 2-fold on
    # average); the same change half a window away does next to nothing
    assert scores.variant_lower >= 0.9 and scores.variant_lfc_mean < -1
    assert abs(scores.control_lfc_mean) < 0.3
