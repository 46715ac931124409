"""What a verdict vector means: paired intervals, tests and the claim rule (``statistics``), gradient-masking
checks (``diagnostics``) and spike activity (``activity``)."""
