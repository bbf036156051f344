"""What a reload changes in the health checks (pure): the data plane's
changes are apply's to say, the checks' are said here, so a reload that only
changes an interval does not answer "nothing to change"."""

from __future__ import annotations

from dataclasses import fields

from l4lb_tui.config_model import Config, HealthSpec


def _checks(config: Config | None) -> dict[tuple[str, str], HealthSpec | None]:
    """Each service's check, by (balancer, service) as apply names them."""
    return {
        (b.where, str(key)): s.health
        for b in (config.balancers if config else ())
        for s in b.services
        for key in s.keys
    }  # fmt: skip


def health_changes(old: Config | None, new: Config) -> list[str]:
    """A line per balancer whose probe sources the reload changes, and per
    service whose health check it changes."""
    before, after = _checks(old), _checks(new)
    was_at = {b.where: b for b in (old.balancers if old else ())}
    out = [
        f"{b.where}: {key} {getattr(prev, key)!r} -> {getattr(b, key)!r}"
        for b in new.balancers
        if (prev := was_at.get(b.where)) is not None
        for key in ("probe_source", "probe_source6")
        if getattr(prev, key) != getattr(b, key)
    ]
    for (where, service), now in after.items():
        was = before.get((where, service))
        if (where, service) not in before or was == now:
            continue  # a new service is apply's to say
        if was is None or now is None:
            what = f"health check {'added' if was is None else 'removed'}"
        else:
            what = ", ".join(
                f"health {f.name} {getattr(was, f.name)!r} -> {getattr(now, f.name)!r}"
                for f in fields(HealthSpec)
                if getattr(was, f.name) != getattr(now, f.name)
            )
        out.append(f"{where}: {service}: {what}")
    return out
