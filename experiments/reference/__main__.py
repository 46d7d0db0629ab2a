"""`python -m experiments.reference [ID ...]`: regenerates the committed PyTorch reference files (see
experiments.harness.regenerate; each section's generator lies beside it, experiments/chN/*_torch.py)."""

from experiments.harness.regenerate import main

if __name__ == "__main__":
    main()
