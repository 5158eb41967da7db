"""Label keys kubenetlab reads and writes, in a module of their own: the CLI's parsers
import them, and must not pay for the typed objects' module to get a string."""

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # discovery.k8s.io/v1 LabelServiceName
HOSTNAME_LABEL = "kubernetes.io/hostname"
# A kubenetlab lab's Nodes say what their data path is (as a CNI's objects say theirs)
ROUTING_LABEL = "kubenetlab.io/routing"
PROXY_LABEL = "kubenetlab.io/proxy"
