"""How a score is made, read top-down: retrieval (``retrieval``) finds candidates in the
registry, a scorer (``reranker``: lexical or a cross-encoder, loaded through ``model_source``
and ``cpu_inference``) scores them, ``combiner`` and ``calibration`` turn features into a
calibrated probability, ``matcher`` runs the stages and returns ``results``; ``assemble``
builds that engine once for the CLI, the app, the service, Ray workers and the benches; ``documents``
is the text the reranker reads for an institution."""
