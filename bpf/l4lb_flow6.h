/* The IPv6 flow table (ARCHITECTURE.md, "IPv6 in the data plane"): two ways
 * of 64-byte entries per bucket, no tag or pick arrays in front.  IPv4's
 * rule without them: a flow's first packet writes its entry marked pending
 * (FLOW6_PENDING in state; backend and seen are its pick), which gives way to
 * any other flow's first packet, and its second packet confirms it.  So a
 * burst of one-packet flows (a scan, a spoofed SYN flood) never pushes out
 * the flows the table stores.  The state machine, lifetimes and membership
 * rules are the IPv4 table's (l4lb_flow.h), called, not copied. */
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
	struct flow6 *pending; /* FLOW_STORED: the flow's own pending entry */
	__u32 slot;
	__u32 stat; /* FLOW_NEW, FLOW_STORED, FLOW_STALE, FLOW_REUSED or FLOW_UNTRACKED */
	__u32 syn;  /* a connection's opening SYN (or a repeat of it) */
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

/* How free a way is for a flow's first packet, lower is freer: empty (0),
 * pending, that is only marked by another flow's first packet (1), storing a
 * flow past its lifetime (2), storing a live flow (3). */
static __always_inline __u32 flow6_rank(const struct flow6 *f, const struct config *cfg, __u32 now)
{
	if (!f->proto)
		return 0;
	if (f->state & FLOW6_PENDING)
		return 1;
	return now - f->seen >= cfg->ttl[f->state & (FLOW_STATE_SLOTS - 1)] ? 2 : 3;
}

/* The packet's flow: a hit returns its backend (the entry refreshed, its
 * TCP state moved on); otherwise `miss` says where to store the flow.  A SYN
 * meeting its own 5-tuple's entry takes it over, unless that entry was
 * stored by a SYN (a retransmission), as in flow_lookup.  The flow's own
 * pending entry: its second packet (FLOW_STORED), balanced by flow6_pick. */
static __always_inline struct backend *flow6_lookup(struct flow6_miss *miss, struct packet6 *p,
						    __u32 hash, struct config *cfg, __u32 now,
						    __u32 *backend_idx)
{
	/* The table's size, chosen at attach (--flows6), as flow_lookup's. */
	__u32 log2 = (cfg->flags >> CFG_FLOW6_LOG2_SHIFT) & CFG_FLOW6_LOG2_MASK;

	if (!log2)
		log2 = FLOW6_SLOTS_LOG2;
	__u32 bucket = flow_bucket(hash, log2);
	__u32 second = bucket + 1;
	int syn = p->ip6->nexthdr == IPPROTO_TCP &&
		  (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
	struct flow6 *f0 = bpf_map_lookup_elem(&flows6, &bucket);
	struct flow6 *f1 = NULL;

	miss->pending = NULL;
	miss->slot = 0;
	miss->syn = syn;
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
	if (f && f->state & FLOW6_PENDING) {
		miss->stat = FLOW_STORED;
		miss->pending = f;
	} else if (f) {
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
	} else if (f1) {
		/* A first packet: the freer way, the first on a tie. */
		__u32 r0 = flow6_rank(f0, cfg, now), r1 = flow6_rank(f1, cfg, now);

		way = r1 < r0;
		if ((way ? r1 : r0) < 3)
			miss->stat = FLOW_NEW;
		else
			way = 2;
	}
	if (way < 2)
		miss->slot = bucket + way;
	return NULL;
}

/* Where a pending flow's first packet went, if that pick is fresh (as
 * IPv4's, trusted for FLOW6_PICK_JIFFIES) and its backend still a member of
 * the service (and, for a repeated SYN, still taking new connections): its
 * second packet goes there too, whatever the ring says now. */
static __always_inline struct backend *flow6_pick(struct flow6_miss *miss, __u32 svc_id,
						  __u32 half, __u32 now, __u32 *backend_idx)
{
	struct flow6 *f = miss->pending;

	if (!f || now - f->seen >= FLOW6_PICK_JIFFIES)
		return NULL;
	*backend_idx = f->backend & (MAX_BACKENDS - 1);
	struct backend *be = bpf_map_lookup_elem(&backends, backend_idx);

	if (!be || be->ip != f->backend_ip || !is_member(be, svc_id, half))
		return NULL;
	if (miss->syn && !is_serving(be, half))
		return NULL;
	return be;
}

/* Record a flow the table did not hold, now that its backend is chosen: a
 * first packet's entry is written pending, any other's stored. */
static __always_inline void flow6_record(struct flow6_miss *miss, struct packet6 *p, __u32 now,
					 __u32 svc_id, __u32 backend_idx, __be32 backend_ip)
{
	flow_count(FLOW6_STAT_BASE + miss->stat);
	if (miss->stat == FLOW_UNTRACKED)
		return;
	__u32 slot = miss->slot;
	struct flow6 *f = bpf_map_lookup_elem(&flows6, &slot);

	if (!f)
		return;
	__u8 state = p->ip6->nexthdr == IPPROTO_TCP ? tcp_next_state(FLOW_TCP_SYN, p->tcp_flags)
						    : FLOW_UDP;

	addr6_copy(f->saddr, &p->ip6->saddr);
	addr6_copy(f->daddr, &p->ip6->daddr);
	*(__u32 *)&f->sport = *(__u32 *)p->ports;
	f->proto = p->ip6->nexthdr;
	f->state = miss->stat == FLOW_NEW ? state | FLOW6_PENDING : state;
	f->backend = backend_idx;
	f->backend_ip = backend_ip;
	f->seen = now;
	f->svc_id = svc_id;
}
#endif

#endif
