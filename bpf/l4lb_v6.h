/* The IPv6 path of l4lb(): the same story as IPv4's (l4lb_xdp.c), with
 * v6's own headers, service index, flow table and encapsulation.  Included
 * by l4lb_xdp.c after verdict() and count(), which it shares. */
#ifndef L4LB_V6_H
#define L4LB_V6_H

#ifndef L4LB_OFFLOAD
#include "l4lb_parse6.h"
#include "l4lb_svc6.h"
#include "l4lb_flow6.h"
#include "l4lb_encap6.h"
#include "l4lb_icmp6.h"

/* A flow the table does not hold: its service's ring picks the backend (a
 * second packet: where its first went, if still fit), which the table then
 * learns.  R_BALANCE, or why it cannot be balanced. */
static __always_inline __u32 balance6(struct packet6 *p, __u32 hash, struct flow6_miss *miss,
				      __u32 now, struct backend **be, __u32 *backend_idx)
{
	__u32 svc_id = find_service6(p);

	if (!svc_id)
		return is_vip6(&p->ip6->daddr) ? R_PASS_NO_SERVICE : R_PASS_NOT_VIP;
	struct svc_live *live = bpf_map_lookup_elem(&svc_live, &svc_id);
	if (!live)
		return R_PASS_NO_SERVICE;
	__u64 ring = *(volatile __u64 *)&live->ring_chunk; /* one load: see choose() */
	__u32 ring_size = ring >> 32;
	*be = NULL;
	if (miss->stat == FLOW_STORED)
		*be = flow6_pick(miss, svc_id, ((__u32)ring >> RING_CHUNKS_LOG2) & 1, now,
				 backend_idx); /* the half of this very ring */
	if (!*be) {
		if (ring_size > RING_MAX_SLOTS)
			return R_DROP_NO_BACKEND;
		*be = ring_pick((__u32)ring, ring_size, hash, backend_idx);
		if (!*be || !(*be)->ip)
			return R_DROP_NO_BACKEND;
	}
	flow6_record(miss, p, now, svc_id, *backend_idx, (*be)->ip);
	return R_BALANCE;
}

/* Too big for the link once encapsulated: Packet Too Big to the client. */
static __always_inline int too_big6(struct xdp_md *ctx, struct packet6 *p, struct config *cfg)
{
	if (send_pkt_too_big(ctx, cfg->mtu))
		return verdict(R_DROP_ADJUST_HEAD, p->frame_len);
	count(R_ICMP6_TOO_BIG, &reasons, p->frame_len);
	return XDP_TX;
}

static __always_inline int l4lb6(struct xdp_md *ctx)
{
	struct packet6 p = {};
	__u32 zero = 0;

	/* To an address the VIP filter knows (by its fold): foreign traffic,
	 * neighbour discovery's multicast among it, leaves here. */
	__u32 reason = parse6_l3(ctx, &p);
	if (reason != R_BALANCE)
		return verdict(reason, p.frame_len);
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return verdict(R_DROP_MALFORMED, p.frame_len); /* unreachable: slot 0 exists */
	if (!maybe_vip(addr6_fold(&p.ip6->daddr)))
		return verdict(R_PASS_NOT_VIP, p.frame_len);

	/* Judged strictly, dropped only once the address is a VIP's. */
	reason = parse6_l4(ctx, &p);
	/* A router's Packet Too Big about a backend's reply: to that backend
	 * (l4lb_icmp6.h). */
	if (reason == R_PASS_NOT_TCP_UDP && p.ip6->nexthdr == IPPROTO_ICMPV6)
		return icmp6_to_backend(ctx, &p, cfg);
	if (reason != R_BALANCE) {
		if ((R_DROPS >> reason) & 1 && !is_vip6(&p.ip6->daddr))
			reason = R_PASS_NOT_VIP;
		return verdict(reason, p.frame_len);
	}

	/* An established flow: its entry names the backend; else the ring. */
	__u32 hash = flow_hash6(&p);
	__u32 now = (__u32)bpf_jiffies64();
	__u32 backend_idx = 0;
	struct flow6_miss miss = {};
	struct backend *be = flow6_lookup(&miss, &p, hash, cfg, now, &backend_idx);
	if (be) {
		flow_count(FLOW6_STAT_BASE + FLOW_HIT);
	} else {
		reason = balance6(&p, hash, &miss, now, &be, &backend_idx);
		if (reason != R_BALANCE)
			return verdict(reason, p.frame_len);
	}
	struct backend6 *dst = bpf_map_lookup_elem(&backend6, &backend_idx);
	if (!dst)
		return verdict(R_DROP_NO_BACKEND, p.frame_len); /* unreachable: same size as backends */

	/* Wrapped in ip6ip6 to the backend and sent back out, if it fits.
	 * config6 is looked up here, where it is read: a packet passed on the
	 * way never pays for it. */
	if (cfg->mtu && p.payload_len + 2 * sizeof(struct ipv6hdr) > cfg->mtu)
		return too_big6(ctx, &p, cfg);
	struct config6 *c6 = bpf_map_lookup_elem(&config6, &zero);
	if (!c6)
		return verdict(R_DROP_MALFORMED, p.frame_len); /* unreachable: slot 0 exists */
	if (encap_ip6ip6(ctx, &p, hash, be, dst, cfg, c6))
		return verdict(R_DROP_ADJUST_HEAD, p.frame_len);
	count(backend_idx, &backend_stats, p.frame_len);
	return XDP_TX;
}
#endif

#endif
