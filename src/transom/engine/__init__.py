"""transom.engine: converging a host to a list of typed resources, without Kubernetes.

converge (Engine, Plan) runs test / what-if / apply through the providers given to it;
provider is their contract; diff derives test from get; graph orders by dependsOn; policy is
the host admin's limits; redact keeps secrets out; result is what runs report; journal,
reboot, flapping and drift (DriftMonitor, Notifier) keep a host converged over time;
document reads the local file format of `transom apply`.
"""
