//! VRRP v2/v3 (RFC 3768, RFC 5798): state machine and packets. Built in the high-availability issue.
