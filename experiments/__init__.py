"""One runnable module per d2l section and exercise; `python -m experiments` lists and runs them."""
