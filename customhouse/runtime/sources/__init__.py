"""Live kernel event sources for `customhouse runtime watch`.

- `netlink`: the netlink framing shared by the sources (parsing never trusts lengths);
- `proc_connector`: fork/exec/exit/uid/gid from the netlink process connector, and the process
  tree built from them (so short-lived processes keep their parent and container);
- `audit`: Linux audit over NETLINK_AUDIT, registering as the audit daemon, with our own rules,
  records assembled into one `Event` per syscall.
"""
