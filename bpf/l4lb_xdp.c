/* l4lb: hash a flow onto its service's slot ring, wrap it in IPIP to the
 * chosen backend and send it back out (XDP_TX).  Everything that is not a
 * configured service goes to the kernel untouched, but a router's ICMP
 * error about a backend's reply, which goes on to that backend; every other
 * verdict is counted under a reason (see l4lb_consts.h).  IPv6 branches off at the
 * Ethernet type into the same story in l4lb_v6.h (ip6ip6). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"
#include "l4lb_maps.h"
#include "l4lb_parse.h"
#include "l4lb_svc.h"
#include "l4lb_encap.h"
#include "l4lb_flow.h"

#ifdef L4LB_OFFLOAD
#define COUNT_ADD(field, n) __sync_fetch_and_add(&(field), (n))
#else
#define COUNT_ADD(field, n) ((field) += (n))
#endif

static __always_inline void count(__u32 idx, void *map, __u64 bytes)
{
	struct counters *c = bpf_map_lookup_elem(map, &idx);

	if (c) {
		COUNT_ADD(c->pkts, 1);
		COUNT_ADD(c->bytes, bytes);
	}
}

/* Every packet not balanced ends here: counted under its reason. */
static __always_inline int verdict(__u32 reason, __u64 bytes)
{
	count(reason, &reasons, bytes);
	return (R_DROPS >> reason) & 1 ? XDP_DROP : XDP_PASS;
}

#include "l4lb_v6.h"

/* The ring's choice for a flow, or, for a flow's second packet, where its
 * first went (if that backend is still a member). */
static __always_inline struct backend *choose(struct svc_live *live, __u32 svc_id, __u32 hash,
					      struct flow_miss *miss, __u32 now, __u32 *backend_idx)
{
	/* One load: the flip may rewrite the entry at any moment, and chunk and
	 * size must come from the same ring. */
	__u64 ring = *(volatile __u64 *)&live->ring_chunk;
	__u32 ring_chunk = (__u32)ring;
	__u32 ring_size = ring >> 32;

#ifndef L4LB_OFFLOAD
	if (miss->stat == FLOW_STORED) {
		__u32 half = (ring_chunk >> RING_CHUNKS_LOG2) & 1;
		struct backend *be = flow_pick(miss, svc_id, half, now, backend_idx);

		if (be)
			return be;
	}
#endif
	if (ring_size > RING_MAX_SLOTS)
		return NULL;
	struct backend *be = ring_pick(ring_chunk, ring_size, hash, backend_idx);

	return be && be->ip ? be : NULL;
}

/* A flow the table does not hold: its service, and the backend for it,
 * which the table then learns.  R_BALANCE, or why it cannot be balanced. */
static __always_inline __u32 balance(struct packet *p, struct config *cfg, __u32 hash,
				     struct flow_miss *miss, __u32 now, struct backend **be,
				     __u32 *backend_idx)
{
	__be32 daddr = p->iph->daddr;
	struct svc_slot *svc = find_service(daddr, p->ports->dst, p->iph->protocol, cfg->flags);

	if (!svc)
		return is_vip(daddr, cfg->flags) ? R_PASS_NO_SERVICE : R_PASS_NOT_VIP;
	__u32 svc_id = svc->id;
	struct svc_live *live = bpf_map_lookup_elem(&svc_live, &svc_id);
	if (!live)
		return R_PASS_NO_SERVICE; /* unreachable: ids are checked when loaded */
	*be = choose(live, svc_id, hash, miss, now, backend_idx);
	if (!*be)
		return R_DROP_NO_BACKEND;
#ifndef L4LB_OFFLOAD
	flow_record(miss, p->iph, p->ports, p->tcp_flags, now, svc_id, *backend_idx, (*be)->ip);
#endif
	return R_BALANCE;
}

#include "l4lb_icmp.h"

/* Too big for the link once encapsulated: ICMP "fragmentation needed" back
 * to the client if it may not be fragmented (PMTUD), else a drop. */
static __always_inline int too_big(struct xdp_md *ctx, struct packet *p, struct config *cfg)
{
	if (!(p->iph->frag_off & bpf_htons(IP_DF)))
		return verdict(R_DROP_TOO_BIG, p->frame_len);
#ifdef L4LB_OFFLOAD
	return verdict(R_DROP_TOO_BIG, p->frame_len); /* no bpf_xdp_adjust_tail on the NFP */
#else
	if (send_frag_needed(ctx, cfg->mtu))
		return verdict(R_DROP_ADJUST_HEAD, p->frame_len);
	count(R_ICMP_FRAG_NEEDED, &reasons, p->frame_len);
	return XDP_TX;
#endif
}

SEC("xdp")
int l4lb(struct xdp_md *ctx)
{
	struct packet p = {};
	__u32 zero = 0;

	/* An IPv4 packet, to an address the VIP filter knows: foreign traffic
	 * leaves at the first lookup. */
	__u32 reason = parse_l3(ctx, &p);
#ifndef L4LB_OFFLOAD
	if (reason == R_IPV6)
		return l4lb6(ctx);
#endif
	if (reason != R_BALANCE)
		return verdict(reason, p.frame_len);
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return verdict(R_DROP_MALFORMED, p.frame_len); /* unreachable: slot 0 exists */
	if (!(cfg->flags & CFG_CATCH_ALL) && !maybe_vip(p.iph->daddr))
		return verdict(R_PASS_NOT_VIP, p.frame_len);

	/* Most likely ours from here on: judged strictly, but the address is
	 * confirmed before anything is dropped, since another host's packets
	 * are the kernel's to judge. */
	reason = parse_l4(ctx, &p);
#ifndef L4LB_OFFLOAD
	/* A router's "fragmentation needed" about a backend's reply: to that
	 * backend, which alone can send smaller packets (l4lb_icmp.h). */
	if (reason == R_PASS_NOT_TCP_UDP && p.iph->protocol == IPPROTO_ICMP)
		return icmp_to_backend(ctx, &p, cfg);
#endif
	if (reason != R_BALANCE) {
		if ((R_DROPS >> reason) & 1 && !is_vip(p.iph->daddr, cfg->flags))
			reason = R_PASS_NOT_VIP;
		return verdict(reason, p.frame_len);
	}

	/* An established flow: its entry names the backend.  Otherwise its
	 * service's ring, or where its first packet went. */
	__u32 hash = flow_hash(p.iph->saddr, *(__u32 *)p.ports, p.iph->daddr, p.iph->protocol);
	__u32 backend_idx = 0;
	struct backend *be = NULL;
	struct flow_miss miss = {};
	__u32 now = 0;
#ifndef L4LB_OFFLOAD
	now = (__u32)bpf_jiffies64();
	be = flow_lookup(&miss, p.iph, p.ports, hash, p.tcp_flags, cfg, now, &backend_idx);
	if (be)
		flow_count(FLOW_HIT);
#endif
	if (!be) {
		reason = balance(&p, cfg, hash, &miss, now, &be, &backend_idx);
		if (reason != R_BALANCE)
			return verdict(reason, p.frame_len);
	}

	/* Wrapped in IPIP to the backend and sent back out, if it fits. */
	if (cfg->mtu && p.tot_len + sizeof(struct iphdr) > cfg->mtu)
		return too_big(ctx, &p, cfg);
	if (encap_ipip(ctx, p.iph, p.tot_len, be, cfg))
		return verdict(R_DROP_ADJUST_HEAD, p.frame_len);
	count(backend_idx, &backend_stats, p.frame_len);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
