"""What every experiment stands on: stored PyTorch references and their comparison, replays, book bands."""
