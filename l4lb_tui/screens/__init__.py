"""The console's screens, one module each.  Screens call the ConsoleBackend
façade (l4lb_tui.console_backend), never bpftool or netlink themselves."""
