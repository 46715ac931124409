"""Artifacts and what computed them: the code revision (``revision``), the content-addressed store (``store``,
``packing``), planning and cost (``plan``, ``cost``, ``schedule``), the published store (``published_store``) and
the load-or-compute pipeline that fills it (``pipeline``)."""
