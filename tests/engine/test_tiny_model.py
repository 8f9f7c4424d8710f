"""The tiny cross-encoder the other tests use really loads through CrossEncoder(path)."""

from sentence_transformers import CrossEncoder


def test_tiny_cross_encoder_loads_and_scores(tiny_cross_encoder_dir):
    model = CrossEncoder(str(tiny_cross_encoder_dir))
    scores = model.predict([("TU Munich", "Technical University of Munich"), ("a", "b")])
    assert scores.shape == (2,)
    assert all(0.0 <= float(s) <= 1.0 for s in scores)
