"""One-off experiments: their findings are in bench/experiments/README.md and bench/results/."""
