"""`python -m experiments [list | run ID ... | all]`: the runner, experiments.harness.runner."""

import sys

if __name__ == "__main__":
    try:
        from experiments.harness.runner import main

        sys.exit(main())
    except KeyboardInterrupt:  # before the experiments start (importing jax, discovering modules)
        print("interrupted; nothing was run", file=sys.stderr)
        sys.exit(130)
