//! Health checkers (TCP, HTTP, TLS, UDP, script) with rise/fall thresholds. Built in the control-plane issue.
