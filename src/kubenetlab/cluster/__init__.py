"""Cluster mode: kubenetlab's measurements on any Kubernetes cluster, through its API —
its own pods in a namespace it creates and always deletes (`workload`: what it creates;
`session`: creating, exec, cleaning up; `compare`: the measurements; `settings`: what a
run is told; `detect`: what the cluster's data path is and the lab stack that models it)."""
