"""An experiment as values: the config dataclasses, profiles and budgets (``config``), and the checking and parsing
of every page parameter (``parameters``), with one sentence naming a bad value before any work starts."""
