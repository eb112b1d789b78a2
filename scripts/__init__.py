"""Load generators, simulators and benchmarks, each runnable with --help."""
