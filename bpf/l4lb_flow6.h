/* The IPv6 flow table (ARCHITECTURE.md, "IPv6 in the data plane"): two ways
 * of 64-byte entries per bucket, no tags or picks in front (yet), so a v6
 * flow's first packet stores its entry.  The state machine, lifetimes and
 * membership rules are the IPv4 table's (l4lb_flow.h), called, not copied. */
#ifndef L4LB_FLOW6_H
#define L4LB_FLOW6_H

#include <linux/bpf.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "l4lb_consts.h"
#include "l4lb_structs.h"
#include "l4lb_maps.h"
#include "l4lb_parse6.h"
#include "l4lb_flow.h"

#ifndef L4LB_OFFLOAD
/* Where a flow the table does not hold is to be stored (stat
 * FLOW_UNTRACKED: nowhere) and the counter it goes under. */
struct flow6_miss {
	__u32 slot;
	__u32 stat; /* FLOW_NEW, FLOW_STALE, FLOW_REUSED or FLOW_UNTRACKED */
};

/* Source and destination are adjacent in the packet and in the entry: four
 * 8-byte compares, then the ports and the protocol. */
static __always_inline int flow6_is(const struct flow6 *f, const struct packet6 *p)
{
	const __u64 *a = (const __u64 *)f->saddr;
	const __u64 *b = (const __u64 *)&p->ip6->saddr;

	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] &&
	       *(__u32 *)&f->sport == *(__u32 *)p->ports && f->proto == p->ip6->nexthdr;
}

/* As flow_hit, for a v6 entry (the same membership rule: flow_backend). */
static __always_inline struct backend *flow6_hit(struct flow6 *f, __u32 now, __u32 *backend_idx,
						 int syn)
{
	struct backend *be = flow_backend(f->svc_id, f->backend, f->backend_ip, backend_idx, syn);

	if (be && now - f->seen >= FLOW_REFRESH_JIFFIES)
		f->seen = now;
	return be;
}

static __always_inline int flow6_free(const struct flow6 *f, const struct config *cfg, __u32 now)
{
	return !f->proto || now - f->seen >= cfg->ttl[f->state & (FLOW_STATE_SLOTS - 1)];
}

/* The packet's flow: a hit returns its backend (the entry refreshed, its
 * TCP state moved on); otherwise `miss` says where to store the flow.  A SYN
 * meeting its own 5-tuple's entry takes it over, unless that entry was
 * stored by a SYN (a retransmission), as in flow_lookup. */
static __always_inline struct backend *flow6_lookup(struct flow6_miss *miss, struct packet6 *p,
						    __u32 hash, struct config *cfg, __u32 now,
						    __u32 *backend_idx)
{
	__u32 bucket = (hash >> (32 - FLOW6_SLOTS_LOG2)) & ~1u;
	__u32 second = bucket + 1;
	int syn = p->ip6->nexthdr == IPPROTO_TCP &&
		  (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
	struct flow6 *f0 = bpf_map_lookup_elem(&flows6, &bucket);
	struct flow6 *f1 = NULL;

	miss->slot = 0;
	miss->stat = FLOW_UNTRACKED;
	if (!f0)
		return NULL;
	struct flow6 *f = NULL;
	__u32 way = 2;

	/* The second way only when the first is not the flow's: an established
	 * flow mostly sits in the first (stored there when it was free). */
	if (flow6_is(f0, p)) {
		f = f0, way = 0;
	} else {
		f1 = bpf_map_lookup_elem(&flows6, &second);
		if (!f1)
			return NULL;
		if (flow6_is(f1, p))
			f = f1, way = 1;
	}
	if (f) {
		miss->stat = FLOW_REUSED;
		if (!syn || f->state == FLOW_TCP_SYN) {
			struct backend *be = flow6_hit(f, now, backend_idx, syn);

			if (be) {
				__u8 next = tcp_next_state(f->state, p->tcp_flags);

				if (p->ip6->nexthdr == IPPROTO_TCP && next != f->state)
					f->state = next;
				return be;
			}
			miss->stat = FLOW_STALE;
		}
	} else if (flow6_free(f0, cfg, now)) {
		way = 0;
		miss->stat = FLOW_NEW;
	} else if (f1 && flow6_free(f1, cfg, now)) {
		way = 1;
		miss->stat = FLOW_NEW;
	}
	if (way < 2)
		miss->slot = bucket + way;
	return NULL;
}

/* Store a flow the table did not hold, now that its backend is chosen. */
static __always_inline void flow6_record(struct flow6_miss *miss, struct packet6 *p, __u32 now,
					 __u32 svc_id, __u32 backend_idx, __be32 backend_ip)
{
	flow_count(miss->stat);
	if (miss->stat == FLOW_UNTRACKED)
		return;
	__u32 slot = miss->slot;
	struct flow6 *f = bpf_map_lookup_elem(&flows6, &slot);

	if (!f)
		return;
	addr6_copy(f->saddr, &p->ip6->saddr);
	addr6_copy(f->daddr, &p->ip6->daddr);
	*(__u32 *)&f->sport = *(__u32 *)p->ports;
	f->proto = p->ip6->nexthdr;
	f->state = f->proto == IPPROTO_TCP ? tcp_next_state(FLOW_TCP_SYN, p->tcp_flags) : FLOW_UDP;
	f->backend = backend_idx;
	f->backend_ip = backend_ip;
	f->seen = now;
	f->svc_id = svc_id;
}
#endif

#endif
