"""What operates the cluster and runs in no node or actor: the supervisor behind run.sh, process
control by pid, and a throwaway local cluster for tests and benchmarks."""
