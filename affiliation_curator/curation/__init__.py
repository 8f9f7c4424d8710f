"""What curators bring in, decide and take out: ``intake`` (pasted and uploaded strings),
``ranking_jobs`` (batches ranked in the background), ``store`` (batches, items, decisions in
SQLite or PostgreSQL), ``decisions_import`` and ``gold`` (labels from elsewhere),
``formats`` (each file format, its writer beside its reader), ``export`` (decisions become
labelled pairs and mappings, once) and ``export_snapshot``; ``corpus`` matches whole corpora on
Ray and turns a sample of the results into a batch to review."""
