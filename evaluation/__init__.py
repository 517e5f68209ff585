"""rd-eval: checkpoints x benchmarks -> pass@k with intervals and the paired stage-by-stage comparison."""
