"""What trains, calibrates and measures models: ``trainer`` (a cross-encoder from labelled
pairs in memory), ``finetune`` (from curated decisions), ``jobs`` (training in the
background), ``evaluation``, ``pair_metrics`` and ``curated_eval`` (figures on gold and on
curated decisions)."""
