/* The IPv6 flow table (ARCHITECTURE.md, "IPv6 in the data plane"): two ways
 * of 64-byte entries per bucket behind tags and picks as IPv4's (flow6_tags,
 * a byte a slot; flow6_picks, four bytes), with IPv4's rules: a flow's first
 * packet marks its way's tag pending and notes its pick, its second stores
 * the entry, and an entry is read only when its tag carries the packet's
 * fingerprint (or both ways store flows and a first packet looks for an
 * expired one).  So a first packet touches two small arrays, which mostly
 * stay in L2, and no entry of a table of megabytes: writing a first packet's
 * entry there (a store that misses the caches) cost a new v6 flow more than
 * anything else (BENCHMARKS.md, 2026-12-01).  A pick carries a 16-bit check
 * of its flow besides the backend (IPv4's too): a first packet of another
 * flow with the marked flow's fingerprint (one in 127) is a first packet
 * too, so a flood of one-packet flows (a scan, a spoofed SYN flood) neither
 * stores entries nor pushes out the flows the table stores.  The state machine,
 * lifetimes, membership rules and tag and pick arithmetic are the IPv4
 * table's (l4lb_flow.h), called, not copied. */
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
	__u8 *tag;   /* the way's tag; NULL: untracked */
	__u32 *pick; /* the way's pick and check */
	__u32 slot;
	__u32 check; /* flow6_check of the packet */
	__u32 stat; /* FLOW_NEW, FLOW_STORED, FLOW_STALE, FLOW_REUSED or FLOW_UNTRACKED */
	__u32 syn;  /* a connection's opening SYN (or a repeat of it) */
	__u8 fp;
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

/* 16 bits of a flow that its hash does not decide: the hash folds each
 * address by XOR (addr6_fold), this sums the source's words, so two flows of
 * one fingerprint and bucket still differ here but one time in 65,536. */
static __always_inline __u32 flow6_check(const struct packet6 *p)
{
	const __u32 *s = (const __u32 *)&p->ip6->saddr;
	__u32 c = (s[0] + s[1] + s[2] + s[3]) * 0x9E3779B1u + *(__u32 *)p->ports;

	return (c ^ (c >> 16)) & FLOW_PICK_CHECK_MASK;
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

static __always_inline struct flow6 *flow6_find(__u32 slot, const struct packet6 *p)
{
	struct flow6 *f = bpf_map_lookup_elem(&flows6, &slot);

	return f && flow6_is(f, p) ? f : NULL;
}

/* As flow_expired, for a v6 entry. */
static __always_inline int flow6_expired(__u32 slot, const struct config *cfg, __u32 now)
{
	struct flow6 *f = bpf_map_lookup_elem(&flows6, &slot);

	return f && now - f->seen >= cfg->ttl[f->state & (FLOW_STATE_SLOTS - 1)];
}

/* As first_way, for the v6 table's tags and entries. */
static __always_inline __u32 first_way6(__u8 t0, __u8 t1, __u32 bucket, const struct config *cfg,
					__u32 now)
{
	__u32 way = free_way(t0, t1);

	if (way < 2 && tag_empty(way ? t1 : t0))
		return way;
	if (tag_stored(t0) && flow6_expired(bucket, cfg, now))
		return 0;
	if (tag_stored(t1) && flow6_expired(bucket + 1, cfg, now))
		return 1;
	return way;
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
	__u32 tag_idx = bucket / FLOW_TAGS_PER_ENTRY;
	struct flow_tags *tags = bpf_map_lookup_elem(&flow6_tags, &tag_idx);
	int syn = p->ip6->nexthdr == IPPROTO_TCP &&
		  (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;

	miss->tag = NULL;
	miss->pick = NULL;
	miss->slot = 0;
	miss->syn = syn;
	miss->stat = FLOW_UNTRACKED;
	miss->fp = flow_fp(fp_bits(hash, log2));
	miss->check = 0; /* a flow the table does not hold: computed below, off the hit path */
	if (!tags)
		return NULL;
	__u8 fp = miss->fp;
	__u8 *tg = &tags->t[bucket & (FLOW_TAGS_PER_ENTRY - 2)];
	__u8 t0 = tg[0], t1 = tg[1];
	struct flow6 *f = NULL;
	__u32 way = 2;

	/* An entry is read only under its stored tag: an established flow
	 * mostly sits in the first way. */
	if (t0 == fp)
		f = flow6_find(bucket, p);
	if (f)
		way = 0;
	else if (t1 == fp && (f = flow6_find(bucket + 1, p)))
		way = 1;
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
	} else {
		miss->check = flow6_check(p);
		way = pending_way(&flow6_picks, t0, t1, fp, miss->check, bucket, &miss->pick);
		if (way < 2)
			miss->stat = FLOW_STORED;
		else if ((way = first_way6(t0, t1, bucket, cfg, now)) < 2)
			miss->stat = FLOW_NEW;
	}
	if (way < 2) {
		miss->tag = &tg[way];
		miss->slot = bucket + way;
	}
	return NULL;
}

/* Where a pending flow's first packet went (picked_backend's rule). */
static __always_inline struct backend *flow6_pick(struct flow6_miss *miss, __u32 svc_id,
						  __u32 half, __u32 now, __u32 *backend_idx)
{
	if (!miss->pick)
		return NULL;
	return picked_backend((__u16)*miss->pick, miss->syn, svc_id, half, now, backend_idx);
}

/* Record a flow the table did not hold, now that its backend is chosen: a
 * first packet marks its way and notes its pick, any other stores the entry. */
static __always_inline void flow6_record(struct flow6_miss *miss, struct packet6 *p, __u32 now,
					 __u32 svc_id, __u32 backend_idx, __be32 backend_ip)
{
	__u8 *tag = miss->tag;

	flow_count(FLOW6_STAT_BASE + miss->stat);
	if (!tag)
		return;
	if (miss->stat == FLOW_NEW) {
		note_pick(&flow6_picks, miss->slot, backend_idx, now, miss->check);
		*tag = miss->fp | FLOW_TAG_PENDING;
		return;
	}
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
	f->state = state;
	f->backend = backend_idx;
	f->backend_ip = backend_ip;
	f->seen = now;
	f->svc_id = svc_id;
	*tag = miss->fp;
}
#endif

#endif
