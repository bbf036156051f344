"""Reaching balancer nodes on other hosts: the SSH adapter (ssh.py) and
what a remote l4lb's answers mean (answers.py, pure)."""
