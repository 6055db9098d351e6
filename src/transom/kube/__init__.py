"""transom.kube."""
