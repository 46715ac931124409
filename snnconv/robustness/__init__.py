"""One evaluation for anyone's network: ``snnconv.evaluate(model, images, labels, epsilon)`` (``evaluation``) and
every model of the book by a readable name, ``snnconv.load(name)`` (``checkpoints``)."""
