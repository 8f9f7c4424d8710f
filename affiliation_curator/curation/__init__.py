"""What curators bring in, decide and take out: ``intake`` (pasted and uploaded strings),
``ranking_jobs`` (batches ranked in the background), ``store`` (batches, items, decisions in
SQLite or PostgreSQL), ``decisions_import`` and ``gold`` (labels from elsewhere),
``labels`` (decisions become labelled rows, once), ``formats`` (each file format, its writer
beside its reader), ``export`` and ``export_snapshot`` (what leaves the app)."""
