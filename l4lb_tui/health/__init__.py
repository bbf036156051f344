"""Health checks (issue 15): the engine the daemon drives.

The daemon reads a service's HealthSpec (config_model) and, for each backend:

    tunnel = ProbeTunnel(ifname, source, source6=source6, netns=ns); tunnel.open()
    marks = tunnel.set_backends(addresses)
    probe = build_probe(CheckKey(service, ip), spec, vip, port, Target.TUNNEL,
                        mark=marks[ip], source=source)              # logic/probes.py
    scheduler = Scheduler(deliver, netns=ns); scheduler.start()     # scheduler.py
    scheduler.set_probes(probes)
    board = HealthBoard(); board.set_checks({key: (rise, fall)})    # logic/board.py
    changes = board.apply(results)          # in deliver, or wherever it queues them
    verdict = decide(board.service(service), quorum, on_failure, out)   # logic/verdict.py
    ...
    scheduler.stop(); tunnel.close()

Layers: `model` (types), `logic/` (pure: counting, verdict, probes, marks,
rules, board), `adapters/` (sockets, tunnel: the only side effects),
`scheduler` (drives the sockets).  Its benchmark, `l4lb bench health`, is
`l4lb_bench/health/`.
"""
