"""d2l chapter 6 (builders' guide): one experiment module per section and its exercises, their PyTorch generators and reference files."""
