"""PyTorch reference numbers (the committed JSON files here) and the generator that makes them."""
