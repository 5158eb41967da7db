"""kubenetlab assess: a cluster read, replayed as a twin lab, measured as it is and as it
could be (snapshot → profile → twin → measure → rank)."""
