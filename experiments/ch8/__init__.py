"""d2l chapter 8: one experiment module per section and its exercises, their PyTorch generators and reference files."""
