"""Where outbound requests may go: the address policy, the guarded transport every client uses, and
the checks made when a URL is saved."""
