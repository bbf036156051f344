"""`l4lb daemon`: keeps a config applied, runs the health checks, serves
metrics (the service layer, beside the CLI and the console)."""
