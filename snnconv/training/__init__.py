"""Training through time (Sec. 3.3): the adversarial objectives AT, TRADES and MART (``objectives``) and the ANN,
finetuning and end-to-end training loops (``train``)."""
