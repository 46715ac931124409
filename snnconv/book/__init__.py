"""The book's pages: the models each page uses and their rows (``results``), the robustness audit (``audit``), the
three-seed claims (``claims``), the page helper (``page``), every page's compute (``pages``), the paper's values
(``published``, ``reference_values/``) and how they are shown (``tables``, ``plots``)."""
