"""kubenetlab assess: a cluster read, replayed as a twin lab, measured as it is and as it
could be (snapshot → profile → twin → measure → rank)."""

# The changes assess knows how to measure (twin.what_ifs says which apply to a cluster).
WHAT_IFS = ("native", "nftables", "ebpf", "dsr", "mtu")
